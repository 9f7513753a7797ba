import type { CrmStageValue } from '../adapters/crm/types.ts';
import type { Fields } from '../core/deal.ts';
import type { CrmSource, PipelineConfig } from '../core/pipeline-config.ts';

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

/**
 * The CRM's value for a stage key: the value that maps to it in `crm.<source>.stages` (the same map {@link mapStage}
 * reads the other way), so what Stageflow writes back reads back as the same stage. Pipedrive's closed stages are
 * its deal `status` (`won`/`lost`, from `crm.pipedrive.status`) and its stages are numeric `stage_id`s. When several
 * CRM values map to one stage, the first in the config is written. `null` when the pipeline maps no value of that
 * CRM to the stage (or, for Pipedrive, only a non-numeric `stage_id`, which no webhook can carry): there is nothing
 * to write.
 */
export function crmStageValue(config: PipelineConfig, source: CrmSource, stageKey: string): CrmStageValue | null {
  switch (source) {
    case 'hubspot':
      return valueFor(config.crm.hubspot?.stages, stageKey, 'dealstage');
    case 'salesforce':
      return valueFor(config.crm.salesforce?.stages, stageKey, 'StageName');
    case 'pipedrive': {
      const crm = config.crm.pipedrive;
      const status = valueFor(crm?.status, stageKey, 'status');
      if (status) return status;
      const stageId = Number(valueFor(crm?.stages, stageKey, 'stage_id')?.value);
      return Number.isSafeInteger(stageId) ? { field: 'stage_id', value: stageId } : null;
    }
  }
}

function valueFor(
  map: Record<string, string | undefined> | undefined,
  stageKey: string,
  field: CrmStageValue['field'],
): CrmStageValue | null {
  const entry = Object.entries(map ?? {}).find(([, key]) => key === stageKey);
  return entry ? { field, value: entry[0] } : null;
}

/** A CRM field name renamed through the pipeline's `crm.<source>.fields`; an unlisted name is kept as it comes. */
export function renameField(name: string, renames: Record<string, string> | undefined): string {
  return (renames && Object.hasOwn(renames, name) ? renames[name] : undefined) ?? name;
}

/** CRM field names renamed through the pipeline's `crm.<source>.fields`; unlisted names are kept as they come. */
export function renameFields(fields: Fields, renames: Record<string, string> | undefined): Fields {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [renameField(name, renames), value]));
}
