import { ENV, optionalEnv, SECRET_NAMES, type SecretName } from './environment.ts';

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

async function fromSecretsManager(secretId: string): Promise<Record<string, unknown>> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const { SecretString } = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }));
  return JSON.parse(SecretString ?? '{}') as Record<string, unknown>;
}
