import type { Source } from '../core/deal.ts';
import type { SourceAdapter } from './types.ts';

/**
 * The webhook adapter of each source, by the source name in the route `/webhooks/<source>`. Each is imported on
 * first use: a function that only ever receives one CRM's webhooks never builds the others' schemas and parsers,
 * which keeps its cold start short.
 */
export const adapters: Record<Source, () => Promise<SourceAdapter>> = {
  generic: async () => (await import('./generic.ts')).genericAdapter,
  hubspot: async () => (await import('./hubspot.ts')).hubspotAdapter,
  pipedrive: async () => (await import('./pipedrive.ts')).pipedriveAdapter,
  salesforce: async () => (await import('./salesforce.ts')).salesforceAdapter,
};
