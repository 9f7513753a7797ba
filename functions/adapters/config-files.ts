import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type ConfigInFile, crmClaimProblems } from '../core/config/claims.ts';
import { formatConfigIssues, invalidConfigError, locateInText, parsePipelineConfig } from '../core/config/read.ts';
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
  return parsePipelineConfig(readConfigText(file), file);
}

function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw unreadable(file, error);
  }
}

/** True when the path names a folder of stage configs rather than one file. */
export function isConfigFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The stage config files of a folder, sorted. */
function configFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** The CRM pipelines `file` claims that an earlier file of its folder (`others`) claims too, located in `file`. */
function claimIssues(file: string, config: VersionedPipeline['config'], others: readonly ConfigInFile[]): ErrorIssue[] {
  const problems = crmClaimProblems(config, others);
  return problems.length === 0 ? [] : locateInText(readConfigText(file), file, problems);
}

/**
 * Loads every `*.yaml`/`*.yml` pipeline in a folder, keyed by pipeline id.
 * @throws InvalidConfigError with the problems of all files (each issue names its file).
 */
export function loadPipelines(dir: string): Map<string, VersionedPipeline> {
  let files: string[];
  try {
    files = configFilesIn(dir);
  } catch (error) {
    throw unreadable(dir, error);
  }
  const pipelines = new Map<string, VersionedPipeline>();
  const fileOf = new Map<string, string>();
  const loaded: ConfigInFile[] = [];
  const issues: ErrorIssue[] = [];
  for (const file of files) {
    try {
      const pipeline = loadPipelineConfig(file);
      const id = pipeline.config.pipeline;
      const other = fileOf.get(id);
      if (other === undefined) {
        pipelines.set(id, pipeline);
        fileOf.set(id, file);
        issues.push(...claimIssues(file, pipeline.config, loaded));
        loaded.push({ file, config: pipeline.config });
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
  if (files.length === 0) {
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

/**
 * Loads a stage config file and says whether it is valid, with a summary or its errors; a CRM pipeline that another
 * valid file of its folder manages too is an error of this file. A folder is checked file by file, and across files.
 */
export function checkConfigFile(file: string): ConfigCheck {
  try {
    if (isConfigFolder(file)) {
      const pipelines = loadPipelines(file);
      return { ok: true, output: [...pipelines.values()].map((p) => summarizePipeline(p, file)).join('\n\n') };
    }
    const pipeline = loadPipelineConfig(file);
    const issues = claimIssues(file, pipeline.config, siblingConfigs(file));
    if (issues.length > 0) throw invalidConfigError(file, issues);
    return { ok: true, output: summarizePipeline(pipeline, file) };
  } catch (error) {
    if (error instanceof InvalidConfigError) return { ok: false, output: formatConfigIssues(error, file) };
    throw error;
  }
}

/** The valid stage configs beside `file` in its folder (an invalid one is reported when it is checked itself). */
function siblingConfigs(file: string): ConfigInFile[] {
  const own = resolve(file);
  let files: string[];
  try {
    files = configFilesIn(dirname(file)).filter((other) => resolve(other) !== own);
  } catch {
    return [];
  }
  return files.flatMap((other) => {
    try {
      return [{ file: other, config: loadPipelineConfig(other).config }];
    } catch {
      return [];
    }
  });
}

function unreadable(file: string, error: unknown): InvalidConfigError {
  const reason = error instanceof Error ? error.message : String(error);
  const message = `cannot read it (${reason}) — check the path, relative to the current folder, or STAGEFLOW_CONFIG`;
  return invalidConfigError(file, [{ file, path: '', message }], error);
}
