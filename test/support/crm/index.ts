import type { CrmSandboxOptions } from '../../../infra/local/crm-sandbox.ts';
import { HubSpotStandIn } from './hubspot.ts';
import { PipedriveStandIn } from './pipedrive.ts';
import { SalesforceStandIn } from './salesforce.ts';

/** The three CRM stand-ins, started together, and the environment that points Stageflow's CRM clients at them. */
export async function startCrmStandIns(options: CrmSandboxOptions = {}) {
  const [hubspot, pipedrive, salesforce] = await Promise.all([
    new HubSpotStandIn(options).start(),
    new PipedriveStandIn(options).start(),
    new SalesforceStandIn(options).start(),
  ]);
  return {
    hubspot,
    pipedrive,
    salesforce,
    env: {
      HUBSPOT_ACCESS_TOKEN: hubspot.accessToken,
      HUBSPOT_API_BASE_URL: hubspot.url,
      PIPEDRIVE_API_TOKEN: pipedrive.apiToken,
      PIPEDRIVE_API_BASE_URL: pipedrive.url,
      SALESFORCE_CLIENT_ID: salesforce.clientId,
      SALESFORCE_CLIENT_SECRET: salesforce.clientSecret,
      SALESFORCE_LOGIN_URL: salesforce.url,
    },
    close: () => Promise.all([hubspot.close(), pipedrive.close(), salesforce.close()]).then(() => undefined),
  };
}
