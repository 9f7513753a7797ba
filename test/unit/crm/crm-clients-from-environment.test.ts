import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { crmClients, crmClientsFromEnvironment } from '../../../functions/adapters/crm/index.ts';
import { CRM_SETTING_NAMES, ENV } from '../../../functions/adapters/environment.ts';
import { startCrmStandIns } from '../../support/crm/index.ts';
import { SecretsExtensionStandIn } from '../../support/secrets-extension.ts';

type StandIns = Awaited<ReturnType<typeof startCrmStandIns>>;
let standIns: StandIns;
beforeAll(async () => {
  standIns = await startCrmStandIns();
});
afterAll(() => standIns.close());

/** Only the given CRM settings in the environment, as `npm start` would set them. */
function localEnvironment(settings: Record<string, string>) {
  vi.stubEnv(ENV.secretsArn, '');
  vi.stubEnv(ENV.crmSecretsArn, '');
  for (const name of CRM_SETTING_NAMES) vi.stubEnv(name, settings[name] ?? '');
}
afterEach(() => vi.unstubAllEnvs());

describe('crmClientsFromEnvironment', () => {
  it('builds a client for each CRM whose settings are all set, and they reach those base URLs', async () => {
    localEnvironment(standIns.env);
    standIns.hubspot.addDeal('1', 'appointmentscheduled');
    standIns.pipedrive.addDeal(1, 1);
    standIns.salesforce.addDeal('006A', 'Identify');

    const clients = await crmClientsFromEnvironment();

    expect(Object.keys(clients).sort()).toEqual(['hubspot', 'pipedrive', 'salesforce']);
    const results = await Promise.all([
      clients.hubspot?.setStage('1', { field: 'dealstage', value: 'qualifiedtobuy' }),
      clients.pipedrive?.setStage('1', { field: 'stage_id', value: 2 }),
      clients.salesforce?.setStage('006A', { field: 'StageName', value: 'Qualify' }),
    ]);
    expect(results.map((result) => result?.ok)).toEqual([true, true, true]);
    expect([standIns.hubspot.stageOf('1'), standIns.pipedrive.stageOf(1), standIns.salesforce.stageOf('006A')]).toEqual(
      ['qualifiedtobuy', 2, 'Qualify'],
    );
  });

  it('builds none when no CRM is configured', async () => {
    localEnvironment({});
    expect(await crmClientsFromEnvironment()).toEqual({});
  });

  it('answers the same clients while the settings are unchanged, so caps and sessions persist', async () => {
    localEnvironment({ HUBSPOT_ACCESS_TOKEN: 'token-1' });
    const options = {};
    const first = await crmClientsFromEnvironment(options);
    expect(await crmClientsFromEnvironment(options)).toBe(first);

    vi.stubEnv('HUBSPOT_ACCESS_TOKEN', 'token-2');
    const rotated = await crmClientsFromEnvironment(options);
    expect(rotated).not.toBe(first);
    expect(Object.keys(rotated)).toEqual(['hubspot']);
  });

  it('reads only the CRM secret in the cloud, never the environment', async () => {
    const extension = await new SecretsExtensionStandIn().start();
    try {
      extension.put('arn:crm', {
        PIPEDRIVE_API_TOKEN: 'from-secret',
        PIPEDRIVE_API_BASE_URL: standIns.pipedrive.url,
        HUBSPOT_ACCESS_TOKEN: '',
      });
      localEnvironment({ HUBSPOT_ACCESS_TOKEN: 'from-environment' });
      for (const [name, value] of Object.entries(extension.env)) vi.stubEnv(name, value);
      vi.stubEnv(ENV.secretsArn, 'arn:webhook');

      expect(await crmClientsFromEnvironment()).toEqual({});

      vi.stubEnv(ENV.crmSecretsArn, 'arn:crm');
      const clients = await crmClientsFromEnvironment();
      expect(Object.keys(clients)).toEqual(['pipedrive']);
      expect(extension.requests).toEqual(['arn:crm']);
    } finally {
      await extension.close();
    }
  });
});

describe('crmClients', () => {
  it('defaults the HubSpot base URL and needs every Salesforce setting', () => {
    const incomplete: string[] = [];
    const clients = crmClients(
      { HUBSPOT_ACCESS_TOKEN: 'token', SALESFORCE_CLIENT_ID: 'id' },
      { onIncomplete: (source, problem) => incomplete.push(`${source}: ${problem}`) },
    );

    expect(Object.keys(clients)).toEqual(['hubspot']);
    expect(incomplete).toEqual(['salesforce: SALESFORCE_CLIENT_SECRET, SALESFORCE_LOGIN_URL not set']);
  });

  it('refuses a base URL that is not a URL', () => {
    const incomplete: string[] = [];
    const clients = crmClients(
      { PIPEDRIVE_API_TOKEN: 'token', PIPEDRIVE_API_BASE_URL: 'acme.pipedrive' },
      { onIncomplete: (source, problem) => incomplete.push(`${source}: ${problem}`) },
    );

    expect(clients).toEqual({});
    expect(incomplete).toEqual(['pipedrive: PIPEDRIVE_API_BASE_URL is not a URL']);
  });
});
