import {
  CRM_SETTING_NAMES,
  type CrmSettingName,
  ENV,
  optionalEnv,
  SECRET_NAMES,
  type SecretName,
} from './environment.ts';

export type Secrets = Record<SecretName, string>;

const CACHE_MS = 5 * 60_000;
let cached: { secrets: Secrets; until: number } | undefined;

/**
 * The webhook secrets and the link signing key. In the cloud they come from one Secrets Manager secret (a JSON object
 * keyed by the names below), cached for five minutes so a rotation is picked up without a redeploy; there is no
 * default. Locally `npm start` puts them in the environment (with development defaults it prints at start-up).
 */
export async function loadSecrets(): Promise<Secrets> {
  if (cached && cached.until > Date.now()) return cached.secrets;
  const secretsArn = optionalEnv(ENV.secretsArn);
  const source = secretsArn ? await fromSecretsManager(secretsArn) : process.env;
  const secrets = {} as Secrets;
  const missing: string[] = [];
  for (const name of SECRET_NAMES) {
    const value = source[name];
    if (typeof value === 'string' && value !== '') secrets[name] = value;
    else missing.push(name);
  }
  if (missing.length > 0) throw new Error(`secrets not configured: ${missing.join(', ')}`);
  cached = { secrets, until: Date.now() + CACHE_MS };
  return secrets;
}

/**
 * The CRM write-back settings that are set; unset and empty ones are left out. In the cloud they come only from the
 * CRM secret (`CRM_SECRETS_ARN`, cached five minutes like the webhook secrets): a function given the webhook secret
 * but not that one writes back to no CRM. Locally `npm start` puts them in the environment; there is no default.
 */
export async function loadCrmSettings(): Promise<CrmSettings> {
  const crmSecretsArn = optionalEnv(ENV.crmSecretsArn);
  if (!crmSecretsArn) return optionalEnv(ENV.secretsArn) ? {} : crmSettingsIn(process.env);
  if (cachedCrm && cachedCrm.secretId === crmSecretsArn && cachedCrm.until > Date.now()) return cachedCrm.settings;
  const settings = crmSettingsIn(await fromSecretsManager(crmSecretsArn));
  cachedCrm = { secretId: crmSecretsArn, settings, until: Date.now() + CACHE_MS };
  return settings;
}

export type CrmSettings = Partial<Record<CrmSettingName, string>>;
let cachedCrm: { secretId: string; settings: CrmSettings; until: number } | undefined;

function crmSettingsIn(source: Record<string, unknown>): CrmSettings {
  const settings: CrmSettings = {};
  for (const name of CRM_SETTING_NAMES) {
    const value = source[name];
    if (typeof value === 'string' && value !== '') settings[name] = value;
  }
  return settings;
}

async function fromSecretsManager(secretId: string): Promise<Record<string, unknown>> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const { SecretString } = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }));
  return JSON.parse(SecretString ?? '{}') as Record<string, unknown>;
}
