import type { Node } from 'constructs';
import { z } from 'zod';

/**
 * The deployment settings, read from CDK context (`cdk deploy -c mailFrom=deals@acme.com …` or cdk.json's `context`).
 *
 * The defaults exist so that `npm run synth` works on a fresh clone; they are not a working deployment: SES refuses
 * to send from `example.com` until the admin passes an identity verified in the target account, e.g.
 * `npm run deploy -- -c sesIdentity=acme.com -c mailFrom=deals@acme.com`.
 */
const SettingsSchema = z
  .object({
    sesIdentity: z
      .string()
      .min(1)
      .default('example.com')
      .describe('the SES identity (a verified domain or address) the functions may send as, e.g. acme.com'),
    mailFrom: z
      .email()
      .optional()
      .describe(
        'the From address of every email, within sesIdentity, e.g. deals@acme.com (default: stageflow@<sesIdentity>)',
      ),
    sesConfigurationSet: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional()
      .describe('an existing SES configuration set for sending (default: one created by the stack)'),
    publicBaseUrl: z
      .url({ protocol: /^https$/ })
      .optional()
      .describe('the https base URL written into emailed links, e.g. a custom domain (default: the HTTP API endpoint)'),
    hubspotWriteBackSourceId: z
      .string()
      .min(1)
      .optional()
      .describe(
        "the HubSpot sourceId of Stageflow's private app (e.g. userId:45678), so its stage writes are told from a person's",
      ),
    pipedriveApiUserId: z
      .string()
      .regex(/^\d+$/)
      .optional()
      .describe("the Pipedrive user id of Stageflow's API token, so its stage writes are told from a person's"),
    salesforceIntegrationUserId: z
      .string()
      .regex(/^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/)
      .optional()
      .describe(
        "the Salesforce user id (005…) Stageflow's connected app runs as, so its stage writes are told from a person's",
      ),
    alarmTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:/)
      .optional()
      .describe('an SNS topic ARN every alarm notifies (default: alarms without actions)'),
  })
  .superRefine(({ sesIdentity, mailFrom }, context) => {
    const domain = mailFrom?.split('@')[1];
    const covered = sesIdentity.includes('@')
      ? mailFrom === sesIdentity
      : domain === sesIdentity || domain?.endsWith(`.${sesIdentity}`);
    if (mailFrom !== undefined && !covered) {
      context.addIssue({
        code: 'custom',
        path: ['mailFrom'],
        message: `SES would refuse to send from ${mailFrom} as identity ${sesIdentity}: use an address of that identity`,
      });
    }
  })
  .transform((settings) => ({ ...settings, mailFrom: settings.mailFrom ?? `stageflow@${settings.sesIdentity}` }));

/** The settings of one deployment; see `SettingsSchema` for each. */
export type StageflowSettings = z.output<typeof SettingsSchema>;

/** The names of the settings, as `-c <name>=<value>` takes them. */
const SETTING_NAMES = Object.keys(SettingsSchema.in.shape) as (keyof z.input<typeof SettingsSchema>)[];

/** A context value that is not a valid setting; says which and how to fix it. */
export class InvalidSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid CDK context:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'InvalidSettingsError';
  }
}

/**
 * Reads the settings from CDK context.
 * @throws InvalidSettingsError naming each invalid value, what it should be and how to pass it.
 */
export function readSettings(node: Node): StageflowSettings {
  const raw = Object.fromEntries(SETTING_NAMES.map((name) => [name, node.tryGetContext(name)]));
  const parsed = SettingsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new InvalidSettingsError(
    parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const about = SettingsSchema.in.shape[name as keyof typeof SettingsSchema.in.shape]?.description;
      return `${name}: ${issue.message} — pass ${about ?? 'a valid value'} with -c ${name}=<value>`;
    }),
  );
}
