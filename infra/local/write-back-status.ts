import { HUBSPOT_DEFAULT_BASE_URL } from '../../functions/adapters/crm/hubspot.ts';
import { crmClients } from '../../functions/adapters/crm/index.ts';
import type { CrmSource } from '../../functions/adapters/crm/types.ts';
import { CRM_SETTINGS } from '../../functions/adapters/environment.ts';
import { loadCrmSettings } from '../../functions/adapters/secrets.ts';

const CRM_NAMES: Record<CrmSource, string> = { hubspot: 'HubSpot', pipedrive: 'Pipedrive', salesforce: 'Salesforce' };

/** Per CRM: where its write-back goes, or why it does not run. Credentials are never printed. */
export async function writeBackLines(): Promise<string[]> {
  const settings = await loadCrmSettings();
  const problems = new Map<CrmSource, string>();
  const clients = crmClients(settings, { onIncomplete: (source, problem) => problems.set(source, problem) });
  const endpoints: Record<CrmSource, string | undefined> = {
    hubspot: settings.HUBSPOT_API_BASE_URL ?? HUBSPOT_DEFAULT_BASE_URL,
    pipedrive: settings.PIPEDRIVE_API_BASE_URL,
    salesforce: settings.SALESFORCE_LOGIN_URL,
  };
  return (Object.keys(CRM_SETTINGS) as CrmSource[]).map((source) => {
    const name = `  ${CRM_NAMES[source].padEnd(21)}`;
    if (clients[source]) return `${name} on → ${endpoints[source]}`;
    const problem = problems.get(source);
    if (problem) return `${name} not running: ${problem}`;
    return `${name} off (no credentials set; README, "The local stack")`;
  });
}
