import { describe, expect, it } from 'vitest';
import { unmetCriteria } from '../../functions/core/criteria.ts';
import { EXIT_FIELDS, exitFields, fieldsOnReaching, nextStage, OPEN_STAGES } from '../../infra/local/default-story.ts';
import { defaultPipeline } from './core/default-pipeline.ts';

const { stages } = defaultPipeline().config;

describe('the default story told by the demo, the tests and the benchmarks', () => {
  it("follows the default pipeline's open stages in order, then wins", () => {
    expect(OPEN_STAGES).toEqual(stages.filter((stage) => !stage.closed).map((stage) => stage.key));
    expect(nextStage('deliver')).toBe(stages.find((stage) => stage.closed === 'won')?.key);
  });

  it.each(OPEN_STAGES)("brings fields that meet every exit criterion of '%s'", (key) => {
    const stage = stages.find((s) => s.key === key);
    expect(stage?.exitCriteria.length).toBeGreaterThan(0);
    expect(unmetCriteria(stage?.exitCriteria ?? [], exitFields(key))).toEqual([]);
  });

  it('gathers on reaching a stage the exit fields of every stage before it', () => {
    expect(fieldsOnReaching('identify')).toEqual({});
    expect(fieldsOnReaching('propose')).toEqual({ ...EXIT_FIELDS.identify, ...EXIT_FIELDS.qualify });
  });

  it('names the stage it has no exit fields for', () => {
    expect(() => exitFields('closed_won')).toThrow("the default story has no exit fields for 'closed_won'");
  });
});
