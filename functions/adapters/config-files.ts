import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatConfigIssues, invalidConfigError, parsePipelineConfig } from '../core/config/read.ts';
import { summarizePipeline } from '../core/config/summary.ts';
import { type ErrorIssue, InvalidConfigError } from '../core/errors.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';

/**
 * The stage config files: the only code that opens them. What a file says is read by `core/config/read.ts`.
 */

/** The stage config used when neither an argument nor `STAGEFLOW_CONFIG` names one (relative to the working folder). */
export const DEFAULT_CONFIG_FILE = 'stage-config/default.yaml';

/** The stage config file to use: the given argument, else `STAGEFLOW_CONFIG`, else the default pipeline. */
export function resolveConfigFile(argument?: string, env: NodeJS.ProcessEnv = process.env): string {
  return argument || env.STAGEFLOW_CONFIG || DEFAULT_CONFIG_FILE;
}

/**
 * Reads and parses one stage config file.
 * @throws InvalidConfigError when the file cannot be read or is invalid.
 */
export function loadPipelineConfig(file: string): VersionedPipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw unreadable(file, error);
  }
  return parsePipelineConfig(text, file);
}

/**
 * Loads every `*.yaml`/`*.yml` pipeline in a folder, keyed by pipeline id.
 * @throws InvalidConfigError with the problems of all files (each issue names its file).
 */
export function loadPipelines(dir: string): Map<string, VersionedPipeline> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => /\.ya?ml$/i.test(name));
  } catch (error) {
    throw unreadable(dir, error);
  }
  const pipelines = new Map<string, VersionedPipeline>();
  const fileOf = new Map<string, string>();
  const issues: ErrorIssue[] = [];
  for (const file of names.sort().map((name) => join(dir, name))) {
    try {
      const pipeline = loadPipelineConfig(file);
      const id = pipeline.config.pipeline;
      const other = fileOf.get(id);
      if (other === undefined) {
        pipelines.set(id, pipeline);
        fileOf.set(id, file);
      } else {
        issues.push({
          file,
          path: 'pipeline',
          message: `pipeline '${id}' is also defined by ${other} — keep one file`,
        });
      }
    } catch (error) {
      if (!(error instanceof InvalidConfigError)) throw error;
      issues.push(...error.issues);
    }
  }
  if (names.length === 0) {
    issues.push({
      file: dir,
      path: '',
      message: `${dir} holds no stage config — add a pipeline file such as default.yaml`,
    });
  }
  if (issues.length > 0) throw invalidConfigError(dir, issues);
  return pipelines;
}

/** The outcome of checking one stage config file (`npm run config:check`). */
export interface ConfigCheck {
  ok: boolean;
  /** The summary when `ok`, else the located errors. */
  output: string;
}

/** Loads a stage config file and says whether it is valid, with a summary or its errors. */
export function checkConfigFile(file: string): ConfigCheck {
  try {
    return { ok: true, output: summarizePipeline(loadPipelineConfig(file), file) };
  } catch (error) {
    if (error instanceof InvalidConfigError) return { ok: false, output: formatConfigIssues(error, file) };
    throw error;
  }
}

function unreadable(file: string, error: unknown): InvalidConfigError {
  const reason = error instanceof Error ? error.message : String(error);
  const message = `cannot read it (${reason}) — check the path, relative to the current folder, or STAGEFLOW_CONFIG`;
  return invalidConfigError(file, [{ file, path: '', message }], error);
}
