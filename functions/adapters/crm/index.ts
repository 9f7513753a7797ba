import { CRM_SETTINGS, type CrmSettingName } from '../environment.ts';
import { type CrmSettings, loadCrmSettings } from '../secrets.ts';
import type { CrmClientOptions } from './http.ts';
import { HUBSPOT_DEFAULT_BASE_URL, HubSpotClient } from './hubspot.ts';
import { PipedriveClient } from './pipedrive.ts';
import { SalesforceClient } from './salesforce.ts';
import type { CrmClient, CrmSource } from './types.ts';

export type { CrmClientOptions, RetryNotice } from './http.ts';

/** The CRM clients whose settings are set: write-back runs for those only. */
export type CrmClients = Partial<Record<CrmSource, CrmClient>>;

export interface CrmClientsOptions extends CrmClientOptions {
  /** Told about a CRM that has some settings but not all (or a base URL that is not a URL): it gets no client. */
  onIncomplete?: (source: CrmSource, problem: string) => void;
}

let built: { key: string; options: CrmClientsOptions | undefined; clients: CrmClients } | undefined;

/**
 * The clients of the CRMs whose settings are set: from the environment locally, from the
 * Secrets Manager secret in the cloud (cached five minutes, like the webhook secrets). Cheap to call per batch: the
 * same clients come back while the settings and `options` stay the same, so their request caps and the Salesforce
 * session span invocations; changed settings (a rotated token) build new ones. Pass the same `options` object
 * each time.
 */
export async function crmClientsFromEnvironment(options?: CrmClientsOptions): Promise<CrmClients> {
  const settings = await loadCrmSettings();
  const key = JSON.stringify(settings);
  if (built?.key !== key || built.options !== options) {
    built = { key, options, clients: crmClients(settings, options) };
  }
  return built.clients;
}

/** New clients for the CRMs whose settings are all present in `settings`. */
export function crmClients(settings: CrmSettings, options?: CrmClientsOptions): CrmClients {
  const clients: CrmClients = {};
  const hubspot = complete('hubspot', settings, options, ['accessToken'], ['baseUrl']);
  if (hubspot) {
    clients.hubspot = new HubSpotClient(
      { accessToken: hubspot.accessToken, baseUrl: hubspot.baseUrl ?? HUBSPOT_DEFAULT_BASE_URL },
      options,
    );
  }
  const pipedrive = complete('pipedrive', settings, options, ['apiToken', 'baseUrl'], ['baseUrl']);
  if (pipedrive) clients.pipedrive = new PipedriveClient(pipedrive, options);
  const salesforce = complete('salesforce', settings, options, ['clientId', 'clientSecret', 'loginUrl'], ['loginUrl']);
  if (salesforce) clients.salesforce = new SalesforceClient(salesforce, options);
  return clients;
}

type Names<Crm extends CrmSource> = keyof (typeof CRM_SETTINGS)[Crm];

/**
 * A CRM's settings by their short names when every `required` one is set and every `urls` one (when set) is a URL;
 * undefined when none is set (the CRM is simply not connected) or some are missing (reported to `onIncomplete`).
 */
function complete<Crm extends CrmSource, Required extends Names<Crm>>(
  source: Crm,
  settings: CrmSettings,
  options: CrmClientsOptions | undefined,
  required: Required[],
  urls: Names<Crm>[],
): (Record<Required, string> & Partial<Record<Names<Crm>, string>>) | undefined {
  const names = CRM_SETTINGS[source] as Record<Names<Crm>, CrmSettingName>;
  const values = Object.fromEntries(
    Object.entries<CrmSettingName>(names).flatMap(([short, name]) => {
      const value = settings[name];
      return value === undefined ? [] : [[short, value]];
    }),
  ) as Partial<Record<Names<Crm>, string>>;
  const missing = required.filter((short) => values[short] === undefined).map((short) => names[short]);
  if (missing.length === required.length) return undefined;
  if (missing.length > 0) {
    options?.onIncomplete?.(source, `${missing.join(', ')} not set`);
    return undefined;
  }
  const notUrl = urls.filter((short) => values[short] !== undefined && !URL.canParse(values[short] as string));
  if (notUrl.length > 0) {
    options?.onIncomplete?.(source, `${notUrl.map((short) => names[short]).join(', ')} is not a URL`);
    return undefined;
  }
  return values as Record<Required, string> & Partial<Record<Names<Crm>, string>>;
}
