/**
 * Every environment variable the functions read, named once. The local stack and CDK set the same names;
 * only their values differ (emulator endpoints locally, real services in the cloud).
 */
export const ENV = {
  tableName: 'TABLE_NAME',
  /** JSON object: pipeline id → the config version new deals start on, e.g. {"default":"3f2a…"}. */
  pipelines: 'STAGEFLOW_PIPELINES',
  /** JSON object: pipeline id → the state machine (alias) ARN that runs its deals. */
  stateMachines: 'STATE_MACHINE_ARNS',
  publicBaseUrl: 'PUBLIC_BASE_URL',
  mailFrom: 'MAIL_FROM',
  sesConfigurationSet: 'SES_CONFIGURATION_SET',
  /** Local only: emulator endpoints. Unset in the cloud. */
  dynamoDbEndpoint: 'DYNAMODB_ENDPOINT',
  sesEndpoint: 'SES_ENDPOINT',
  stepFunctionsEndpoint: 'SFN_ENDPOINT',
  /** Cloud: the Secrets Manager secret holding the webhook secrets and link signing key (a JSON object). */
  secretsArn: 'SECRETS_ARN',
  /** Cloud: the Secrets Manager secret holding the CRM write-back settings (`CRM_SETTINGS`, a JSON object). */
  crmSecretsArn: 'CRM_SECRETS_ARN',
  /** Cloud, set by the Parameters and Secrets Lambda extension's layer: its local port (2773 unless set). */
  secretsExtensionPort: 'PARAMETERS_SECRETS_EXTENSION_HTTP_PORT',
  /** Cloud, set by Lambda: the function's session token, which the extension takes as proof of the caller. */
  sessionToken: 'AWS_SESSION_TOKEN',
  approvalReminderSeconds: 'APPROVAL_REMINDER_SECONDS',
  approvalExpirySeconds: 'APPROVAL_EXPIRY_SECONDS',
  /** How many deals' changes the outbox works on at once within a batch (each deal's changes stay in order). */
  outboxConcurrency: 'OUTBOX_CONCURRENCY',
  /** Local only: run the stale-deal digest every N seconds (the cloud runs it on a daily schedule). */
  digestIntervalSeconds: 'DIGEST_INTERVAL_SECONDS',
  /**
   * Local only: this start of the local stack, whose one process runs every handler. A lease taken by another start
   * belongs to a process that is gone and may be taken over at once (in the cloud a lease runs out instead).
   */
  localBootId: 'STAGEFLOW_LOCAL_BOOT_ID',
  /** Cloud only: the board's login (Cognito user pool, app client, hosted UI base URL). Unset locally: board open. */
  boardUserPoolId: 'BOARD_USER_POOL_ID',
  boardClientId: 'BOARD_CLIENT_ID',
  boardLoginDomain: 'BOARD_LOGIN_DOMAIN',
} as const;

/** The secrets, by environment variable name (local) and by key in the Secrets Manager JSON (cloud). */
export const SECRET_NAMES = [
  'GENERIC_WEBHOOK_SECRET',
  'HUBSPOT_CLIENT_SECRET',
  'PIPEDRIVE_BASIC_AUTH',
  'SALESFORCE_ORG_ID',
  'SALESFORCE_WEBHOOK_TOKEN',
  'LINK_SIGNING_KEY',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/**
 * The CRM write-back connections, by environment variable name (local) and by key in the CRM
 * secret's JSON (cloud, `CRM_SECRETS_ARN`: a secret of its own, so the internet-facing webhook function cannot read
 * tokens that write to the CRMs). Unlike `SECRET_NAMES` each is optional: write-back runs for every CRM whose
 * settings are all set, and none has a default. The base URLs sit beside the credentials, so one `put-secret-value`
 * connects a CRM; an unset `HUBSPOT_API_BASE_URL` means HubSpot's public API.
 */
export const CRM_SETTINGS = {
  hubspot: { accessToken: 'HUBSPOT_ACCESS_TOKEN', baseUrl: 'HUBSPOT_API_BASE_URL' },
  pipedrive: { apiToken: 'PIPEDRIVE_API_TOKEN', baseUrl: 'PIPEDRIVE_API_BASE_URL' },
  salesforce: {
    clientId: 'SALESFORCE_CLIENT_ID',
    clientSecret: 'SALESFORCE_CLIENT_SECRET',
    loginUrl: 'SALESFORCE_LOGIN_URL',
  },
} as const;
type CrmSettingsNames = typeof CRM_SETTINGS;
export type CrmSettingName = {
  [Crm in keyof CrmSettingsNames]: CrmSettingsNames[Crm][keyof CrmSettingsNames[Crm]];
}[keyof CrmSettingsNames];
export const CRM_SETTING_NAMES: readonly CrmSettingName[] = Object.values(CRM_SETTINGS).flatMap(
  (names): CrmSettingName[] => Object.values(names),
);

/** A required variable; a missing one is a deployment error, reported by name. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is not set`);
  }
  return value;
}

export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** A JSON object variable such as STAGEFLOW_PIPELINES. */
export function jsonEnv(name: string): Record<string, string> {
  return JSON.parse(requireEnv(name)) as Record<string, string>;
}

/**
 * Who Stageflow's own write-back is in each CRM's change markers, so its echo is recognised even when
 * the value written is no longer recent: the HubSpot `sourceId` of the private app (e.g. `userId:45678`), the
 * Pipedrive API token's user id, the Salesforce integration user's id. Optional, not secret (plain environment).
 */
export const OWN_CRM_ORIGINS = {
  hubspot: 'HUBSPOT_WRITE_BACK_SOURCE_ID',
  pipedrive: 'PIPEDRIVE_API_USER_ID',
  salesforce: 'SALESFORCE_INTEGRATION_USER_ID',
} as const;
