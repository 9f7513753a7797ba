import type { PipelineConfig } from '../pipeline-config.ts';
import type { Problem } from './types.ts';

/** A stage config as another file holds it, for the rules across pipelines. */
export interface ConfigInFile {
  file: string;
  config: PipelineConfig;
}

/** What each CRM calls the pipelines a Stageflow pipeline claims, and where the config lists them. */
const CLAIMS = [
  { source: 'hubspot', key: 'pipelines', what: 'HubSpot pipeline' },
  { source: 'pipedrive', key: 'pipelines', what: 'Pipedrive pipeline_id' },
  { source: 'salesforce', key: 'recordTypes', what: 'Salesforce record type' },
] as const;

/** The CRM pipelines (or record types) a config claims, by `crm.<source>.<key>`. */
function claimed(config: PipelineConfig, source: (typeof CLAIMS)[number]['source'], key: string): string[] {
  const crm = config.crm[source] as Record<string, unknown> | undefined;
  const ids = crm?.[key];
  return Array.isArray(ids) ? ids.map(String) : [];
}

/**
 * A CRM pipeline belongs to one Stageflow pipeline: every id `target` claims that one of `others` claims too (or that
 * `target` lists twice) is a problem of `target`, at the list entry, naming the other file.
 */
export function crmClaimProblems(target: PipelineConfig, others: readonly ConfigInFile[]): Problem[] {
  return CLAIMS.flatMap(({ source, key, what }) =>
    claimed(target, source, key).flatMap((id, index, ids): Problem[] => {
      const path = ['crm', source, key, index];
      if (ids.indexOf(id) !== index) {
        return [{ path, message: `${what} '${id}' is listed twice — list it once` }];
      }
      const other = others.find(({ config }) => claimed(config, source, key).includes(id));
      if (!other) return [];
      const message =
        `${what} '${id}' is also managed by pipeline '${other.config.pipeline}' (${other.file}) — a CRM ` +
        'pipeline belongs to one Stageflow pipeline: remove it from one of them';
      return [{ path, message }];
    }),
  );
}
