import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineConfig } from '../../functions/core/pipeline-config.ts';
import { DealWorkflow } from '../../infra/cloud/constructs/deal-workflow.ts';
import { InvalidSettingsError, readSettings } from '../../infra/cloud/settings.ts';
import { PIPELINES, ROOT, renderString, type Synthesized, synthesize } from './synthesize.ts';

describe('the CDK app entry point', () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'stageflow-synth-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('refuses invalid stage configs with every error and its file:line:column, and synthesizes nothing', () => {
    const configs = join(folder, 'stage-config');
    const out = join(folder, 'cdk.out');
    mkdirSync(configs);
    for (const name of ['several_errors.yaml', 'misspelt_role.yaml']) {
      copyFileSync(join(ROOT, 'test/fixtures/configs', name), join(configs, name));
    }
    const run = spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['infra/cloud/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_OUTDIR: out, CDK_CONTEXT_JSON: JSON.stringify({ stageConfigDir: configs }) },
    });
    expect(run.status).toBe(1);
    const errors = run.stderr.split('\n').filter((line) => /\.yaml:\d+:\d+ /.test(line));
    expect(errors).toEqual([
      expect.stringMatching(/misspelt_role\.yaml:15:\d+ +stages\[1\]\.exitApprovals\[0\]\.role .*'finance'/),
      expect.stringMatching(/several_errors\.yaml:8:3 +approvalTiming\.expireAfterHours /),
      expect.stringMatching(/several_errors\.yaml:13:22 +stages\[0\]\.entryApprovals\[0\] /),
      expect.stringMatching(/several_errors\.yaml:21:19 +crm\.salesforce\.stages\["Closed Won"\] /),
    ]);
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
  });
});

describe('settings from CDK context', () => {
  const settingsOf = (context: Record<string, unknown>) => readSettings(new App({ context }).node);

  it('defaults to example.com so that synth needs nothing, and derives the From address from the identity', () => {
    expect(settingsOf({})).toEqual({ sesIdentity: 'example.com', mailFrom: 'stageflow@example.com' });
    expect(settingsOf({ sesIdentity: 'acme.com' }).mailFrom).toBe('stageflow@acme.com');
  });

  it('names each invalid value and how to pass a valid one', () => {
    const read = () => settingsOf({ mailFrom: 'not-an-address', publicBaseUrl: 'http://insecure.example.com' });
    expect(read).toThrow(InvalidSettingsError);
    expect(read).toThrow(/mailFrom: .* — pass the From address .* with -c mailFrom=<value>/);
    expect(read).toThrow(/publicBaseUrl: .* with -c publicBaseUrl=<value>/);
  });

  it.each([
    ['acme.com', 'deals@acme.com', true],
    ['acme.com', 'deals@mail.acme.com', true],
    ['deals@acme.com', 'deals@acme.com', true],
    ['acme.com', 'deals@other.com', false],
    ['deals@acme.com', 'sales@acme.com', false],
  ])('as identity %s, accepts the sender %s: %s', (sesIdentity, mailFrom, accepted) => {
    const read = () => settingsOf({ sesIdentity, mailFrom });
    if (accepted) expect(read().mailFrom).toBe(mailFrom);
    else expect(read).toThrow(/mailFrom: SES would refuse to send from .* — pass/);
  });

  describe('given for a deployment', () => {
    let synthesized: Synthesized;
    beforeAll(() => {
      synthesized = synthesize({
        bundle: false,
        context: {
          sesIdentity: 'acme.com',
          mailFrom: 'deals@acme.com',
          sesConfigurationSet: 'acme-transactional',
          publicBaseUrl: 'https://deals.acme.com',
          alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall',
          hubspotWriteBackSourceId: 'userId:45678',
          pipedriveApiUserId: '13540546',
          salesforceIntegrationUserId: '005000000000001AAA',
        },
      });
    });

    it("gives the webhook function Stageflow's own user in each CRM, by which it tells its echoes", () => {
      const functions = synthesized.appTemplate.findResources('AWS::Lambda::Function');
      const webhook = synthesized.app.functions.webhook.function;
      const id = synthesized.app.getLogicalId(webhook.node.defaultChild as CfnElement);
      expect(functions[id]?.Properties.Environment.Variables).toMatchObject({
        HUBSPOT_WRITE_BACK_SOURCE_ID: 'userId:45678',
        PIPEDRIVE_API_USER_ID: '13540546',
        SALESFORCE_INTEGRATION_USER_ID: '005000000000001AAA',
      });
    });

    it('writes the public URL, sender and configuration set into every function', () => {
      const functions = synthesized.appTemplate.findResources('AWS::Lambda::Function');
      for (const { function: fn } of Object.values(synthesized.app.functions)) {
        const id = synthesized.app.getLogicalId(fn.node.defaultChild as CfnElement);
        expect(functions[id]?.Properties.Environment.Variables).toMatchObject({
          PUBLIC_BASE_URL: 'https://deals.acme.com',
          MAIL_FROM: 'deals@acme.com',
          SES_CONFIGURATION_SET: 'acme-transactional',
        });
      }
    });

    it('uses the given configuration set instead of creating one, and scopes sending to it', () => {
      synthesized.appTemplate.resourceCountIs('AWS::SES::ConfigurationSet', 0);
      const policies = JSON.stringify(synthesized.appTemplate.findResources('AWS::IAM::Policy'));
      expect(policies).toContain(':configuration-set/acme-transactional');
      expect(policies).toContain(':identity/acme.com');
      expect(policies).toContain('"ses:FromAddress":"deals@acme.com"');
    });

    it('notifies the given topic from every alarm', () => {
      const alarms = Object.values(synthesized.appTemplate.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms.length).toBeGreaterThan(0);
      for (const alarm of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:oncall']);
      }
    });
  });
});

describe('DealWorkflow versions', () => {
  const base = PIPELINES.get('default')?.config as PipelineConfig;
  const publish = (config: PipelineConfig) => {
    const stack = new Stack(new App(), 'Test');
    const workflowFunction = LambdaFunction.fromFunctionArn(
      stack,
      'Fn',
      'arn:aws:lambda:eu-west-1:123456789012:function:stageflow-workflow',
    );
    const workflow = new DealWorkflow(stack, 'Workflow', { config, workflowFunction });
    const [version] = Object.values(Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachineVersion'));
    return { hash: workflow.definitionHash, description: renderString(version?.Properties.Description) };
  };
  const withStage = (index: number, change: Partial<PipelineConfig['stages'][number]>): PipelineConfig => ({
    ...base,
    stages: base.stages.map((stage, i) => (i === index ? { ...stage, ...change } : stage)),
  });

  it('names the published version after the definition', () => {
    const { hash, description } = publish(base);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(description).toBe(`definition ${hash}`);
  });

  it('publishes a new version when the definition changes, and none when only guidance text changes', () => {
    const original = publish(base).hash;
    expect(publish(withStage(0, { definition: 'Reworded guidance.' })).hash).toBe(original);
    expect(publish(withStage(0, { entryApprovals: ['finance'] })).hash).not.toBe(original);
    expect(publish({ ...base, stages: base.stages.filter((stage) => stage.key !== 'negotiate') }).hash).not.toBe(
      original,
    );
  });
});
