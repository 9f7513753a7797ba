import { describe, expect, it } from 'vitest';
import type { CrmSource, PipelineConfig } from '../../../functions/core/pipeline-config.ts';
import { crmStageValue, mapStage } from '../../../functions/sources/crm-maps.ts';
import { defaultPipeline } from '../core/default-pipeline.ts';

const { config } = defaultPipeline();
const SOURCES: CrmSource[] = ['hubspot', 'pipedrive', 'salesforce'];

/** The forward direction, as the webhook adapters read a CRM value (Pipedrive's status before its stage_id). */
function readBack(source: CrmSource, field: string, value: string | number, pipeline: PipelineConfig = config) {
  if (source === 'pipedrive' && field === 'status') {
    return pipeline.crm.pipedrive?.status[value as 'won' | 'lost'];
  }
  return mapStage(source, pipeline.crm[source]?.stages, String(value));
}

describe('crmStageValue over the default pipeline', () => {
  it.each([
    ['hubspot', 'identify', { field: 'dealstage', value: 'appointmentscheduled' }],
    ['hubspot', 'qualify', { field: 'dealstage', value: 'qualifiedtobuy' }],
    ['hubspot', 'closed_won', { field: 'dealstage', value: 'closedwon' }],
    ['pipedrive', 'identify', { field: 'stage_id', value: 1 }],
    ['pipedrive', 'deliver', { field: 'stage_id', value: 5 }],
    ['pipedrive', 'closed_won', { field: 'status', value: 'won' }],
    ['pipedrive', 'closed_lost', { field: 'status', value: 'lost' }],
    ['salesforce', 'deliver', { field: 'StageName', value: 'Deliver/Finalize' }],
    ['salesforce', 'closed_lost', { field: 'StageName', value: 'Closed Lost' }],
  ] as const)('%s: %s → %o', (source, stage, expected) => {
    expect(crmStageValue(config, source, stage)).toEqual(expected);
  });

  it.each(SOURCES)('%s: every stage reads back as itself (one map, both directions)', (source) => {
    for (const { key } of config.stages) {
      const value = crmStageValue(config, source, key);
      expect(value, key).not.toBeNull();
      if (value) expect(readBack(source, value.field, value.value), key).toBe(key);
    }
  });

  it.each(SOURCES)('%s: a stage the pipeline does not map has no CRM value', (source) => {
    expect(crmStageValue(config, source, 'nurture')).toBeNull();
  });
});

describe('crmStageValue over other maps', () => {
  const withCrm = (crm: PipelineConfig['crm']): PipelineConfig => ({ ...config, crm });

  it('is null for a CRM the pipeline has no map for', () => {
    expect(crmStageValue(withCrm({}), 'hubspot', 'identify')).toBeNull();
  });

  it('writes the first of several CRM values that map to one stage', () => {
    const pipeline = withCrm({
      hubspot: {
        pipelines: [],
        stages: { legacyqualified: 'qualify', qualifiedtobuy: 'qualify' },
        fields: {},
        writeBack: true,
      },
    });
    expect(crmStageValue(pipeline, 'hubspot', 'qualify')).toEqual({ field: 'dealstage', value: 'legacyqualified' });
  });

  it("uses Pipedrive's stage_id for a closed stage that has no status mapping", () => {
    const pipeline = withCrm({
      pipedrive: { pipelines: [], stages: { '9': 'closed_won' }, status: {}, fields: {}, options: {}, writeBack: true },
    });
    expect(crmStageValue(pipeline, 'pipedrive', 'closed_won')).toEqual({ field: 'stage_id', value: 9 });
  });

  it('is null for a Pipedrive stage mapped only from a non-numeric id, which no webhook can carry', () => {
    const pipeline = withCrm({
      pipedrive: { pipelines: [], stages: { first: 'identify' }, status: {}, fields: {}, options: {}, writeBack: true },
    });
    expect(crmStageValue(pipeline, 'pipedrive', 'identify')).toBeNull();
  });
});
