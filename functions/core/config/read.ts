import { createHash } from 'node:crypto';
import { type Document, isMap, LineCounter, parseDocument } from 'yaml';
import { type ErrorIssue, InvalidConfigError } from '../errors.ts';
import { type PipelineConfig, PipelineConfigSchema, type VersionedPipeline } from '../pipeline-config.ts';
import { describeValue, explainSchemaIssue, yamlErrorMessage } from './explain.ts';
import { locateProblem, pathAtOffset } from './locate.ts';
import { crossFieldProblems } from './rules.ts';
import { storedSizeProblem } from './stored-size.ts';
import type { Problem } from './types.ts';

/**
 * Stage config text → a validated, versioned pipeline: parses the YAML, checks it against `PipelineConfigSchema` and
 * the cross-field rules the schema cannot express, and locates every problem by path, line and column.
 */

/**
 * The version of a stage config: the first 16 hex digits of the SHA-256 of the parsed config (defaults filled in) as
 * JSON with its mapping keys sorted. Comments, formatting, key order and spelling out a default are not new versions,
 * so they never move open deals; every change of meaning is one.
 */
export function configVersion(config: PipelineConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}

/** JSON with every object's keys in sorted order: one text per meaning. Lists keep their order (it means something). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, nested: unknown) =>
    nested !== null && typeof nested === 'object' && !Array.isArray(nested)
      ? Object.fromEntries(Object.entries(nested).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : nested,
  );
}

/**
 * Parses and validates the text of a stage config.
 * @param file where the text came from: named in errors, and a `.yaml`/`.yml` file name must equal the pipeline id.
 * @throws InvalidConfigError listing every problem with its path, line and column.
 */
export function parsePipelineConfig(text: string, file: string): VersionedPipeline {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const result = validateDocument(doc, file);
  if ('problems' in result) {
    const issues = result.problems.map((problem) => locateProblem(problem, doc, lineCounter, file));
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw invalidConfigError(file, issues);
  }
  return { config: result.config, version: configVersion(result.config) };
}

/** Problems found in a config's text after it parsed (rules across files), located by line and column. */
export function locateInText(text: string, file: string, problems: readonly Problem[]): ErrorIssue[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return problems.map((problem) => locateProblem(problem, doc, lineCounter, file));
}

/** Lists the issues of an invalid config, one per line: `file:line:column  path  message`, columns aligned. */
export function formatConfigIssues(error: InvalidConfigError, file: string): string {
  const rows = error.issues.map((issue) => {
    const where = [issue.file ?? file, issue.line, issue.column].filter((part) => part !== undefined).join(':');
    return [where, issue.path || '(file)', issue.message] as const;
  });
  const whereWidth = Math.max(0, ...rows.map(([where]) => where.length));
  const pathWidth = Math.max(0, ...rows.map(([, path]) => path.length));
  const lines = rows.map(
    ([where, path, message]) => `${where.padEnd(whereWidth)}  ${path.padEnd(pathWidth)}  ${message}`,
  );
  return [`${error.message}:`, ...lines].join('\n');
}

/** The error of an invalid config file or folder: its message counts the issues, e.g. `default.yaml: 3 errors`. */
export function invalidConfigError(file: string, issues: ErrorIssue[], cause?: unknown): InvalidConfigError {
  const count = `${issues.length} ${issues.length === 1 ? 'error' : 'errors'}`;
  return new InvalidConfigError(`${file}: ${count}`, issues, cause === undefined ? undefined : { cause });
}

function validateDocument(doc: Document, file: string): { config: PipelineConfig } | { problems: Problem[] } {
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((error) => ({
        path: pathAtOffset(doc, error.pos[0]),
        offset: error.pos[0],
        message: yamlErrorMessage(error),
      })),
    };
  }
  if (doc.contents === null) {
    const message = 'the file is empty — write a pipeline with at least `pipeline`, `name` and `stages`';
    return { problems: [{ path: [], message }] };
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { problems: [{ path: [], message: `${reason} — use fewer YAML aliases` }] };
  }
  if (!isMap(doc.contents)) {
    const message = `the file holds ${describeValue(data)}, not a pipeline — write \`key: value\` lines`;
    return { problems: [{ path: [], message }] };
  }
  const parsed = PipelineConfigSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) return { problems: parsed.error.issues.flatMap(explainSchemaIssue) };
  const problems = crossFieldProblems(parsed.data, file);
  const tooLarge = storedSizeProblem(parsed.data);
  if (tooLarge) problems.push(tooLarge);
  return problems.length > 0 ? { problems } : { config: parsed.data };
}
