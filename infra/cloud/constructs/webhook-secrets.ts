import { Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SECRET_NAMES, type SecretName } from '../../../functions/adapters/environment.ts';

/** The secret Stageflow generates itself; every other value comes from a CRM and is set by the admin. */
const GENERATED: SecretName = 'LINK_SIGNING_KEY';

/**
 * The webhook secrets and the link signing key: one Secrets Manager secret whose value is a JSON object keyed by
 * `SECRET_NAMES` (what `functions/adapters/secrets.ts` reads). Nothing secret is in the template: the link signing
 * key is generated at creation, and the CRM secrets start empty, which the functions refuse ("secrets not
 * configured: …") until the admin sets them, e.g.
 *
 * ```sh
 * aws secretsmanager get-secret-value --secret-id <SecretArn> --query SecretString --output text > secrets.json
 * # fill in GENERIC_WEBHOOK_SECRET, HUBSPOT_CLIENT_SECRET, PIPEDRIVE_BASIC_AUTH (user:password),
 * # SALESFORCE_ORG_ID and SALESFORCE_WEBHOOK_TOKEN; keep LINK_SIGNING_KEY
 * aws secretsmanager put-secret-value --secret-id <SecretArn> --secret-string file://secrets.json && rm secrets.json
 * ```
 *
 * The functions cache the values for five minutes, so a change applies without a redeploy.
 */
export class WebhookSecrets extends Construct {
  readonly secret: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const placeholders = Object.fromEntries(
      SECRET_NAMES.filter((name) => name !== GENERATED).map((name) => [name, '']),
    );
    this.secret = new Secret(this, 'Secret', {
      description: 'Stageflow webhook secrets and link signing key (JSON); set the CRM values with put-secret-value',
      generateSecretString: {
        secretStringTemplate: JSON.stringify(placeholders),
        generateStringKey: GENERATED,
        passwordLength: 64,
        excludePunctuation: true,
      },
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The CRM secrets are issued by each CRM and change when the admin rotates them there; a rotation function ' +
        'cannot rotate a third party credential. The admin updates the secret with put-secret-value.',
    });
  }

  /** Lets `grantee` read the secret value. */
  grantRead(grantee: IGrantable): void {
    this.secret.grantRead(grantee);
  }
}
