import { afterEach, describe, expect, it } from 'vitest';
import { CRM_SETTING_NAMES } from '../../functions/adapters/environment.ts';
import { writeBackLines } from '../../infra/local/write-back-status.ts';

/** What `npm start` prints about CRM write-back: per CRM, where it writes or why it does not. */

const saved = Object.fromEntries(CRM_SETTING_NAMES.map((name) => [name, process.env[name]]));
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

function setOnly(settings: Record<string, string>): void {
  for (const name of CRM_SETTING_NAMES) delete process.env[name];
  Object.assign(process.env, settings);
}

describe('npm start: the write-back lines', () => {
  it('names where each connected CRM is written, and says which are off or incomplete, never a credential', async () => {
    setOnly({
      HUBSPOT_ACCESS_TOKEN: 'pat-na1-secret-token',
      PIPEDRIVE_API_TOKEN: 'pipedrive-secret-token',
      SALESFORCE_CLIENT_ID: '3MVG9-id',
      SALESFORCE_CLIENT_SECRET: 'salesforce-secret',
      SALESFORCE_LOGIN_URL: 'http://127.0.0.1:4999',
    });
    const lines = await writeBackLines();

    expect(lines).toEqual([
      expect.stringMatching(/^ {2}HubSpot +on → https:\/\/api\.hubapi\.com$/),
      expect.stringMatching(/^ {2}Pipedrive +not running: PIPEDRIVE_API_BASE_URL not set$/),
      expect.stringMatching(/^ {2}Salesforce +on → http:\/\/127\.0\.0\.1:4999$/),
    ]);
    expect(lines.join('\n')).not.toMatch(/secret|pat-na1/);
  });

  it('says a CRM is off when none of its settings is set', async () => {
    setOnly({});
    expect(await writeBackLines()).toEqual([
      expect.stringMatching(/HubSpot +off/),
      expect.stringMatching(/Pipedrive +off/),
      expect.stringMatching(/Salesforce +off/),
    ]);
  });
});
