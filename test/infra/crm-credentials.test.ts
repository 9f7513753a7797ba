import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { CRM_SETTING_NAMES, ENV } from '../../functions/adapters/environment.ts';
import { CrmCredentials } from '../../infra/cloud/constructs/crm-credentials.ts';

function stackWithCredentials() {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const credentials = new CrmCredentials(stack, 'CrmCredentials');
  const role = new Role(stack, 'WriteBackRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  const environment = credentials.grantRead(role);
  return { app, stack, environment, template: Template.fromStack(stack) };
}

type Resource = { Properties: Record<string, unknown> };

describe('CrmCredentials', () => {
  it('creates one secret holding every CRM setting name, each empty: no value in the template', () => {
    const { template } = stackWithCredentials();
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret')) as Resource[];
    expect(secrets).toHaveLength(1);
    const value = JSON.parse(secrets[0]?.Properties.SecretString as string) as Record<string, string>;
    expect(Object.keys(value).sort()).toEqual([...CRM_SETTING_NAMES].sort());
    expect(Object.values(value).every((setting) => setting === '')).toBe(true);
  });

  it('grants reading that secret only, and names it in CRM_SECRETS_ARN', () => {
    const { stack, template, environment } = stackWithCredentials();
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
    const statements = policies.flatMap(
      (policy) => (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
    );
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: { Ref: expect.stringMatching(/^CrmCredentialsSecret/) },
      }),
    ]);
    expect(Object.keys(environment)).toEqual([ENV.crmSecretsArn]);
    expect(stack.resolve(environment[ENV.crmSecretsArn])).toEqual({
      Ref: expect.stringMatching(/^CrmCredentialsSecret/),
    });
  });

  it('has no cdk-nag AWS Solutions finding that is not acknowledged with a reason', () => {
    const { app } = stackWithCredentials();
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
  });
});
