import type { DealStatus } from './deal.ts';
import type { PipelineConfig, StageConfig } from './pipeline-config.ts';

/**
 * Stage lookups over a parsed pipeline config. The config lists the open stages in order, then the closed ones.
 */

/** A stored deal names a stage its pinned config does not have: the data, not the request, is wrong. */
export class StageNotInConfigError extends Error {
  readonly stage: string;
  constructor(pipeline: string, stage: string) {
    super(`pipeline '${pipeline}' has no stage '${stage}', yet a deal is in it`);
    this.name = 'StageNotInConfigError';
    this.stage = stage;
  }
}

/** The stage with this key, if the pipeline has one. */
export function stageOf(config: PipelineConfig, key: string): StageConfig | undefined {
  return config.stages.find((s) => s.key === key);
}

/** The stage with this key; throws {@link StageNotInConfigError} when a stored deal's stage is not in its config. */
export function requireStage(config: PipelineConfig, key: string): StageConfig {
  const stage = stageOf(config, key);
  if (stage === undefined) throw new StageNotInConfigError(config.pipeline, key);
  return stage;
}

/** Whether a deal in this stage is closed (won or lost) and takes no further moves. */
export function isClosed(stage: StageConfig): boolean {
  return stage.closed !== undefined;
}

/** The status a deal has while in this stage. */
export function statusOf(stage: StageConfig): DealStatus {
  return stage.closed ?? 'open';
}

/** The open stages, in pipeline order. */
export function openStages(config: PipelineConfig): StageConfig[] {
  return config.stages.filter((s) => !isClosed(s));
}

/** The stages a new deal may start in: `rules.startStages`, or else the first stage. */
export function startStages(config: PipelineConfig): StageConfig[] {
  const keys = config.rules.startStages;
  if (keys === undefined) return config.stages.slice(0, 1);
  return config.stages.filter((s) => keys.includes(s.key));
}

/** The stage's position in the pipeline; earlier stages come first. */
export function stageIndex(config: PipelineConfig, key: string): number {
  return config.stages.findIndex((s) => s.key === key);
}

/** The open stage right after `key`, or undefined after the last open stage. */
export function nextOpenStage(config: PipelineConfig, key: string): StageConfig | undefined {
  const open = openStages(config);
  const at = open.findIndex((s) => s.key === key);
  return at === -1 ? undefined : open[at + 1];
}

/** The open stages a deal may enter this closed stage from: its `reachableFrom`, or else every open stage. */
export function closableFrom(config: PipelineConfig, closed: StageConfig): string[] {
  return closed.reachableFrom ?? openStages(config).map((s) => s.key);
}
