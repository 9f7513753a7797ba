import type { Source } from '../core/deal.ts';
import { genericAdapter } from './generic.ts';
import { hubspotAdapter } from './hubspot.ts';
import { pipedriveAdapter } from './pipedrive.ts';
import { salesforceAdapter } from './salesforce.ts';
import type { SourceAdapter } from './types.ts';

/** The webhook adapter of each source, by the source name in the route `/webhooks/<source>`. */
export const adapters: Record<Source, SourceAdapter> = {
  generic: genericAdapter,
  hubspot: hubspotAdapter,
  pipedrive: pipedriveAdapter,
  salesforce: salesforceAdapter,
};
