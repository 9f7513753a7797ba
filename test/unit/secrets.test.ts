import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ENV, SECRET_NAMES } from '../../functions/adapters/environment.ts';
import { SecretsExtensionStandIn } from '../support/secrets-extension.ts';

const WEBHOOK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:stageflow/webhooks-AbCdEf';
const values = Object.fromEntries(SECRET_NAMES.map((name) => [name, `${name.toLowerCase()}-value`]));

let extension: SecretsExtensionStandIn;
beforeAll(async () => {
  extension = await new SecretsExtensionStandIn().start();
});
afterAll(() => extension.close());

/** The secrets module afresh: its five-minute cache starts empty for each test. */
async function freshSecrets() {
  vi.resetModules();
  return import('../../functions/adapters/secrets.ts');
}

describe('loadSecrets in the cloud', () => {
  beforeEach(() => {
    vi.stubEnv(ENV.secretsArn, WEBHOOK_SECRET);
    for (const [name, value] of Object.entries(extension.env)) vi.stubEnv(name, value);
    extension.requests.length = 0;
  });
  afterEach(() => vi.unstubAllEnvs());

  it('reads the secret through the extension with the session token, once for many calls', async () => {
    extension.put(WEBHOOK_SECRET, values);
    const { loadSecrets } = await freshSecrets();

    expect(await loadSecrets()).toEqual(values);
    expect(await loadSecrets()).toEqual(values);
    expect(extension.requests).toEqual([WEBHOOK_SECRET]);
  });

  it('names the secret and what the extension answered when it refuses', async () => {
    vi.stubEnv(ENV.sessionToken, 'not-this-function');
    const { loadSecrets } = await freshSecrets();

    await expect(loadSecrets()).rejects.toThrow(
      `the secret ${WEBHOOK_SECRET} could not be read through the Parameters and Secrets Lambda extension: HTTP 400: missing or wrong X-Aws-Parameters-Secrets-Token`,
    );
  });

  it('says the extension is missing when nothing answers on its port', async () => {
    const gone = await new SecretsExtensionStandIn().start();
    const port = gone.env[ENV.secretsExtensionPort] ?? '';
    await gone.close();
    vi.stubEnv(ENV.secretsExtensionPort, port);
    const { loadSecrets } = await freshSecrets();

    await expect(loadSecrets()).rejects.toThrow(`no answer on port ${port} (is the extension layer attached?)`);
  });

  it('refuses a secret that lacks a name, listing what is missing', async () => {
    const { LINK_SIGNING_KEY: _left, ...partial } = values;
    extension.put(WEBHOOK_SECRET, partial);
    const { loadSecrets } = await freshSecrets();

    await expect(loadSecrets()).rejects.toThrow('secrets not configured: LINK_SIGNING_KEY');
  });
});
