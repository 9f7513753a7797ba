import { SecretValue, Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { CRM_SETTING_NAMES, ENV } from '../../../functions/adapters/environment.ts';

/**
 * The CRM write-back settings: one Secrets Manager secret whose value is a JSON object keyed by
 * `CRM_SETTING_NAMES` (what `loadCrmSettings` in `functions/adapters/secrets.ts` reads), every key created empty.
 * It is a secret of its own, granted only to the function that writes back, so the internet-facing webhook function
 * cannot read tokens that change CRM deals. A CRM is written back to once its keys are set, e.g.
 *
 * ```sh
 * aws secretsmanager get-secret-value --secret-id <CrmSecretArn> --query SecretString --output text > crm.json
 * # fill in HUBSPOT_ACCESS_TOKEN, or PIPEDRIVE_API_TOKEN + PIPEDRIVE_API_BASE_URL, or SALESFORCE_CLIENT_ID +
 * # SALESFORCE_CLIENT_SECRET + SALESFORCE_LOGIN_URL; leave the others empty
 * aws secretsmanager put-secret-value --secret-id <CrmSecretArn> --secret-string file://crm.json && rm crm.json
 * ```
 *
 * The template holds only the empty placeholders, never a value. CloudFormation writes them once, at creation: a
 * deploy with the same key list leaves the admin's values alone (a changed key list would write the placeholders
 * again, so add a key with put-secret-value, not here). The functions cache the values for five minutes.
 */
export class CrmCredentials extends Construct {
  readonly secret: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.secret = new Secret(this, 'Secret', {
      description: 'Stageflow CRM write-back credentials (JSON); set them with put-secret-value',
      secretObjectValue: Object.fromEntries(CRM_SETTING_NAMES.map((name) => [name, SecretValue.unsafePlainText('')])),
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'CRM API tokens and connected app secrets are issued by each CRM and rotated there by its admin; a rotation ' +
        'function cannot rotate a third party credential. The admin updates the secret with put-secret-value.',
    });
  }

  /** Lets `grantee` read the settings, and the environment variable that tells it where they are. */
  grantRead(grantee: IGrantable): Record<string, string> {
    this.secret.grantRead(grantee);
    return { [ENV.crmSecretsArn]: this.secret.secretArn };
  }
}
