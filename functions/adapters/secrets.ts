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

/** The port the Parameters and Secrets Lambda extension listens on unless its layer is told otherwise. */
const SECRETS_EXTENSION_PORT = '2773';

/** The secret could not be read: the extension is missing, refused the caller, or Secrets Manager failed. */
export class SecretUnavailableError extends Error {
  constructor(secretId: string, why: string, options?: ErrorOptions) {
    super(
      `the secret ${secretId} could not be read through the Parameters and Secrets Lambda extension: ${why}`,
      options,
    );
    this.name = 'SecretUnavailableError';
  }
}

/**
 * A secret's JSON through the Parameters and Secrets Lambda extension, the layer every function that reads a secret
 * carries: one HTTP GET on its local port, authenticated by the function's session token. The extension calls
 * Secrets Manager with the function's role and caches the answer, so no Secrets Manager client is bundled.
 */
async function fromSecretsManager(secretId: string): Promise<Record<string, unknown>> {
  const port = optionalEnv(ENV.secretsExtensionPort) ?? SECRETS_EXTENSION_PORT;
  const url = `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { 'X-Aws-Parameters-Secrets-Token': optionalEnv(ENV.sessionToken) ?? '' },
      redirect: 'error',
    });
  } catch (error) {
    throw new SecretUnavailableError(secretId, `no answer on port ${port} (is the extension layer attached?)`, {
      cause: error,
    });
  }
  if (!response.ok) {
    throw new SecretUnavailableError(secretId, `HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
  const { SecretString } = (await response.json()) as { SecretString?: string };
  return JSON.parse(SecretString ?? '{}') as Record<string, unknown>;
}
