import type { Fields } from '../core/deal.ts';
import type { CrmSource } from '../core/pipeline-config.ts';

/** The field a CRM deletion sets on the deal: the deal stays, marked as gone from the CRM. */
export const DELETED_IN_CRM_FIELD = 'deletedInCrm';

/**
 * The stage key a CRM stage value maps to through the pipeline's `crm.<source>.stages`. An unmapped value is kept,
 * prefixed with `<source>:`: no stage key can contain a colon, so the core answers `UNKNOWN_STAGE` and its message
 * shows the CRM value the map is missing.
 */
export function mapStage(source: CrmSource, stages: Record<string, string> | undefined, value: string): string {
  const mapped = stages && Object.hasOwn(stages, value) ? stages[value] : undefined;
  return mapped ?? `${source}:${value}`;
}

/** A CRM field name renamed through the pipeline's `crm.<source>.fields`; an unlisted name is kept as it comes. */
export function renameField(name: string, renames: Record<string, string> | undefined): string {
  return (renames && Object.hasOwn(renames, name) ? renames[name] : undefined) ?? name;
}

/** CRM field names renamed through the pipeline's `crm.<source>.fields`; unlisted names are kept as they come. */
export function renameFields(fields: Fields, renames: Record<string, string> | undefined): Fields {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [renameField(name, renames), value]));
}
