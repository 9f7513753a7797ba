import { describe, expect, it } from 'vitest';
import type { PipelineConfig } from '../../../functions/core/pipeline-config.ts';
import {
  closableFrom,
  isClosed,
  nextOpenStage,
  openStages,
  requireStage,
  StageNotInConfigError,
  stageIndex,
  stageOf,
  startStages,
  statusOf,
} from '../../../functions/core/stages.ts';
import { defaultPipeline } from './default-pipeline.ts';

const { config } = defaultPipeline();
const keys = (stages: { key: string }[]) => stages.map((s) => s.key);
const withRules = (rules: Partial<PipelineConfig['rules']>): PipelineConfig => ({
  ...config,
  rules: { ...config.rules, ...rules },
});

describe('stage lookups over the default pipeline', () => {
  it('finds stages by key', () => {
    expect(stageOf(config, 'deliver')?.name).toBe('Deliver/Finalize');
    expect(stageOf(config, 'nowhere')).toBeUndefined();
  });

  it('refuses a stored stage that the config does not have', () => {
    expect(requireStage(config, 'qualify').key).toBe('qualify');
    expect(() => requireStage(config, 'nowhere')).toThrow(StageNotInConfigError);
  });

  it('lists the five open stages in order', () => {
    expect(keys(openStages(config))).toEqual(['identify', 'qualify', 'propose', 'negotiate', 'deliver']);
  });

  it.each([
    ['identify', false, 'open'],
    ['deliver', false, 'open'],
    ['closed_won', true, 'won'],
    ['closed_lost', true, 'lost'],
  ])('%s: closed %s, status %s', (key, closed, status) => {
    const stage = requireStage(config, key);
    expect(isClosed(stage)).toBe(closed);
    expect(statusOf(stage)).toBe(status);
  });

  it.each([
    ['identify', 'qualify'],
    ['negotiate', 'deliver'],
    ['deliver', undefined],
    ['closed_won', undefined],
  ])('after %s comes %s', (key, next) => {
    expect(nextOpenStage(config, key)?.key).toBe(next);
  });

  it('orders stages as the file lists them', () => {
    expect(stageIndex(config, 'identify')).toBeLessThan(stageIndex(config, 'deliver'));
    expect(stageIndex(config, 'nowhere')).toBe(-1);
  });

  it('closes from the configured stages, or from every open stage when none are given', () => {
    expect(closableFrom(config, requireStage(config, 'closed_won'))).toEqual(['deliver']);
    expect(closableFrom(config, requireStage(config, 'closed_lost'))).toEqual([
      'qualify',
      'propose',
      'negotiate',
      'deliver',
    ]);
    const { reachableFrom: _, ...anywhere } = requireStage(config, 'closed_lost');
    expect(closableFrom(config, anywhere)).toEqual(keys(openStages(config)));
  });

  it('starts deals in the configured start stages, by default in the first stage', () => {
    expect(keys(startStages(config))).toEqual(['identify']);
    expect(keys(startStages(withRules({ startStages: undefined })))).toEqual(['identify']);
    expect(keys(startStages(withRules({ startStages: ['qualify', 'identify'] })))).toEqual(['identify', 'qualify']);
  });
});
