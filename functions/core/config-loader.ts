import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { distance as levenshtein } from 'fastest-levenshtein';
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
} from 'yaml';
import * as z from 'zod';
import { type ErrorIssue, InvalidConfigError } from './errors.ts';
import {
  type CrmSource,
  type PipelineConfig,
  PipelineConfigSchema,
  type StageConfig,
  type VersionedPipeline,
} from './pipeline-config.ts';

/**
 * The one reader of stage config YAML: parses a file, validates it against `PipelineConfigSchema` and the cross-field
 * rules the schema cannot express, and locates every problem by path, line and column.
 */

/** The stage config used when neither an argument nor `STAGEFLOW_CONFIG` names one (relative to the working folder). */
export const DEFAULT_CONFIG_FILE = 'stage-config/default.yaml';

type PathSegment = string | number;

/** A problem found before it is located in the file: by path, or by offset for YAML syntax errors. */
interface Problem {
  path: readonly PathSegment[];
  message: string;
  /** Point at the key of the last path segment rather than its value (unknown or misspelt keys). */
  at?: 'key';
  offset?: number;
}

/** The stage config file to use: the given argument, else `STAGEFLOW_CONFIG`, else the default pipeline. */
export function resolveConfigFile(argument?: string, env: NodeJS.ProcessEnv = process.env): string {
  return argument || env.STAGEFLOW_CONFIG || DEFAULT_CONFIG_FILE;
}

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
    throw invalidConfig(file, issues);
  }
  return { config: result.config, version: configVersion(result.config) };
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
  if (issues.length > 0) throw invalidConfig(dir, issues);
  return pipelines;
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

function invalidConfig(file: string, issues: ErrorIssue[], cause?: unknown): InvalidConfigError {
  const count = `${issues.length} ${issues.length === 1 ? 'error' : 'errors'}`;
  return new InvalidConfigError(`${file}: ${count}`, issues, cause === undefined ? undefined : { cause });
}

function unreadable(file: string, error: unknown): InvalidConfigError {
  const reason = error instanceof Error ? error.message : String(error);
  const message = `cannot read it (${reason}) — check the path, relative to the current folder, or STAGEFLOW_CONFIG`;
  return invalidConfig(file, [{ file, path: '', message }], error);
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
  return problems.length > 0 ? { problems } : { config: parsed.data };
}

/** A YAML syntax error in the words of someone editing a stage config, with how to fix it. */
function yamlErrorMessage(error: YAMLError): string {
  switch (error.code) {
    case 'DUPLICATE_KEY':
      return 'this key is already set above in the same mapping — remove or rename one of them';
    case 'TAB_AS_INDENT':
      return 'a tab indents this line — indent with spaces';
    case 'MULTIPLE_DOCS':
      return 'the file holds several YAML documents — keep one pipeline per file: remove the `---` and what follows';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return `${error.message} — put a value that contains ': ' in quotes`;
    case 'BAD_INDENT':
      return `${error.message} — align this line with the lines it belongs with`;
    default:
      return `${error.message} — check the indentation, colons, quotes and brackets`;
  }
}

// Schema issues: zod's own messages say what is wrong; these also say what to write instead.

function explainSchemaIssue(issue: z.core.$ZodIssue): Problem[] {
  const path = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeys(path);
    return issue.keys.map((key) => ({
      path: [...path, key],
      at: 'key',
      message: `unknown key '${key}' — ${suggest(key, allowed, `remove it; allowed here: ${allowed.join(', ')}`)}`,
    }));
  }
  return [{ path, at: issue.code === 'invalid_key' ? 'key' : undefined, message: schemaIssueMessage(issue, path) }];
}

function schemaIssueMessage(issue: z.core.$ZodIssue, path: readonly PathSegment[]): string {
  const last = path.at(-1);
  const name = typeof last === 'number' ? 'this entry' : `'${last}'`;
  const about = descriptionAt(path);
  const value = describeValue(issue.input);
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return `${name} is missing — add ${about ?? 'it'}`;
      if (issue.input === null) return `${name} is empty — write ${about ?? 'its value'}`;
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return `${name} must be ${expected}, not ${value} — ${about ?? `write ${expected}`}`;
    }
    case 'invalid_key':
      return `${value} is not a valid key — ${issue.issues.map((nested) => nested.message).join('; ')}`;
    case 'invalid_value': {
      const values = issue.values.map(String);
      return `${value} is not allowed — ${suggest(String(issue.input), values, `use one of: ${values.join(', ')}`)}`;
    }
    case 'too_small':
      return `${name} ${tooSmall(issue)} — ${about ?? 'fill it in or remove it'}`;
    case 'invalid_format':
      return issue.format === 'email'
        ? `${value} is not an email address — write one such as finance@example.com`
        : `${value} is not valid here — ${issue.message}`;
    case 'invalid_union':
      return `${value} is not allowed here — write a text, a number or true/false`;
    default:
      return issue.message;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a text',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of `key: value` lines',
  record: 'a mapping of `key: value` lines',
};

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  const minimum = Number(issue.minimum);
  switch (issue.origin) {
    case 'array':
      return `needs at least ${minimum} ${minimum === 1 ? 'entry' : 'entries'}`;
    case 'string':
      return 'must not be empty';
    default:
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${minimum}`;
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value}'`;
  return String(value);
}

/** The schema that checks the value at `path`: its description and keys explain an issue there. */
function schemaAt(path: readonly PathSegment[]): z.core.$ZodType | undefined {
  let schema: z.core.$ZodType | undefined = PipelineConfigSchema;
  for (const segment of path) {
    const inner: z.core.$ZodType | undefined = schema && unwrap(schema);
    if (inner instanceof z.core.$ZodObject) schema = inner._zod.def.shape[String(segment)];
    else if (inner instanceof z.core.$ZodArray) schema = inner._zod.def.element;
    else if (inner instanceof z.core.$ZodRecord) schema = inner._zod.def.valueType;
    else return undefined;
  }
  return schema;
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  if (
    schema instanceof z.core.$ZodOptional ||
    schema instanceof z.core.$ZodDefault ||
    schema instanceof z.core.$ZodPrefault
  ) {
    return unwrap(schema._zod.def.innerType);
  }
  return schema;
}

function descriptionAt(path: readonly PathSegment[]): string | undefined {
  const schema = schemaAt(path);
  return schema && z.globalRegistry.get(schema)?.description;
}

function allowedKeys(path: readonly PathSegment[]): string[] {
  const schema = schemaAt(path);
  const inner = schema && unwrap(schema);
  return inner instanceof z.core.$ZodObject ? Object.keys(inner._zod.def.shape) : [];
}

/** "did you mean …?" when a candidate is within a couple of typos of `word`, else the fallback advice. */
function suggest(word: string, candidates: readonly string[], fallback: string): string {
  const budget = Math.max(1, Math.floor(word.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= budget && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best ? `did you mean '${best.candidate}'?` : fallback;
}

// Cross-field rules: what a valid shape can still get wrong.

function crossFieldProblems(config: PipelineConfig, file: string): Problem[] {
  const structure = [...stageListProblems(config.stages), ...stageReferenceProblems(config)];
  return [
    ...structure,
    // With broken references every stage would look unreachable: report those first.
    ...(structure.length === 0 ? reachabilityProblems(config) : []),
    ...approvalRoleProblems(config),
    ...crmProblems(config),
    ...timingProblems(config),
    ...retiredStageProblems(config),
    ...staleAfterProblems(config.stages),
    ...pipelineIdProblems(config.pipeline, file),
  ];
}

const CLOSED_STAGE_EXTRAS = {
  exitCriteria: 'a closed deal never leaves its stage — remove them; use entryCriteria for what must hold to close',
  exitApprovals: 'a closed deal never leaves its stage — move them to the open stage the deal closes from',
  entryApprovals: 'a closed deal takes no further moves — gate the move with exitApprovals on the stage before',
} as const;

function stageListProblems(stages: readonly StageConfig[]): Problem[] {
  const problems: Problem[] = [];
  const firstIndexOf = new Map<string, number>();
  let firstClosed: StageConfig | undefined;
  stages.forEach((stage, index) => {
    const earlier = firstIndexOf.get(stage.key);
    if (earlier === undefined) firstIndexOf.set(stage.key, index);
    else {
      const message = `stage key '${stage.key}' is already used by stages[${earlier}] — give every stage its own key`;
      problems.push({ path: ['stages', index, 'key'], message });
    }
    if (stage.closed) {
      firstClosed ??= stage;
      for (const [field, why] of Object.entries(CLOSED_STAGE_EXTRAS)) {
        if (stage[field as keyof typeof CLOSED_STAGE_EXTRAS].length > 0) {
          const message = `closed stage '${stage.key}' has ${field}, but ${why}`;
          problems.push({ path: ['stages', index, field], at: 'key', message });
        }
      }
      return;
    }
    if (firstClosed) {
      const message = `open stage '${stage.key}' follows closed stage '${firstClosed.key}' — list open stages first`;
      problems.push({ path: ['stages', index], message });
    }
    if (stage.reachableFrom) {
      const message = `open stage '${stage.key}' has reachableFrom, which only applies to closed stages — remove it`;
      problems.push({ path: ['stages', index, 'reachableFrom'], at: 'key', message });
    }
  });
  if (stages.every((stage) => stage.closed)) {
    problems.push({ path: ['stages'], message: 'there is no open stage — add the stages a deal works through' });
  }
  if (!firstClosed) {
    const message = "there is no closed stage — add at least one stage with 'closed: won' or 'closed: lost'";
    problems.push({ path: ['stages'], message });
  }
  return problems;
}

type StageKind = 'any' | 'open' | 'won' | 'lost';

const KIND_WORDS: Record<StageKind, string> = {
  any: 'a stage',
  open: 'an open stage',
  won: "a closed stage with 'closed: won'",
  lost: "a closed stage with 'closed: lost'",
};

/** A reference to a stage that must exist and be of the given kind; `referrer` says who refers, e.g. "X maps to". */
function stageReference(
  stages: readonly StageConfig[],
  path: readonly PathSegment[],
  referrer: string,
  key: string,
  kind: StageKind,
): Problem[] {
  const fits = (stage: StageConfig) => kind === 'any' || (kind === 'open' ? !stage.closed : stage.closed === kind);
  const stage = stages.find((candidate) => candidate.key === key);
  if (stage && fits(stage)) return [];
  const fitting = stages.filter(fits).map((candidate) => candidate.key);
  const advice = suggest(key, fitting, fitting.length > 0 ? `use one of: ${fitting.join(', ')}` : 'add such a stage');
  const what = stage
    ? `${stage.closed ? `a closed stage (${stage.closed})` : 'an open stage'}, but ${KIND_WORDS[kind]} is needed here`
    : 'not a stage of this pipeline';
  return [{ path, message: `${referrer} '${key}', which is ${what} — ${advice}` }];
}

function stageReferenceProblems({ stages, rules }: PipelineConfig): Problem[] {
  const starts = (rules.startStages ?? []).flatMap((key, index) =>
    stageReference(stages, ['rules', 'startStages', index], 'rules.startStages names', key, 'open'),
  );
  const closings = stages.flatMap((stage, index) =>
    stage.closed
      ? (stage.reachableFrom ?? []).flatMap((key, j) =>
          stageReference(
            stages,
            ['stages', index, 'reachableFrom', j],
            `closed stage '${stage.key}' is reachable from`,
            key,
            'open',
          ),
        )
      : [],
  );
  return [...starts, ...closings];
}

/** Every stage must be reachable from a start stage by the moves the rules allow. */
function reachabilityProblems({ stages, rules }: PipelineConfig): Problem[] {
  const open = stages.filter((stage) => !stage.closed);
  const openKeys = open.map((stage) => stage.key);
  const starts = rules.startStages ?? openKeys.slice(0, 1);
  const next = (key: string): string[] => {
    const index = openKeys.indexOf(key);
    if (index < 0) return [];
    const forward = openKeys.slice(index + 1, rules.allowSkips ? undefined : index + 2);
    const backward = rules.allowBackward ? openKeys.slice(0, index) : [];
    const closing = stages.filter((stage) => stage.closed && (stage.reachableFrom ?? openKeys).includes(key));
    return [...forward, ...backward, ...closing.map((stage) => stage.key)];
  };
  const reached = new Set<string>();
  const queue = [...starts];
  for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
    if (reached.has(key)) continue;
    reached.add(key);
    queue.push(...next(key));
  }
  return stages.flatMap((stage, index): Problem[] => {
    if (reached.has(stage.key)) return [];
    if (stage.closed) {
      const message =
        `closed stage '${stage.key}' can never be reached` +
        ' — add an open stage that deals can reach to its reachableFrom';
      return [{ path: ['stages', index, 'reachableFrom'], at: 'key', message }];
    }
    const message =
      `open stage '${stage.key}' can never be reached: deals start in ${starts.join(', ')} and backward moves are off` +
      ' — add it to rules.startStages or set rules.allowBackward: true';
    return [{ path: ['stages', index], message }];
  });
}

function approvalRoleProblems({ stages, approvers }: PipelineConfig): Problem[] {
  const roles = Object.keys(approvers);
  const check = (stage: StageConfig, role: string, path: PathSegment[]): Problem[] => {
    if (Object.hasOwn(approvers, role)) return [];
    const advice = suggest(role, roles, `add approvers.${role} with a name and an email`);
    return [
      { path, message: `stage '${stage.key}' lists approver role '${role}', which is not in approvers — ${advice}` },
    ];
  };
  return stages.flatMap((stage, index) => [
    ...stage.entryApprovals.flatMap((role, j) => check(stage, role, ['stages', index, 'entryApprovals', j])),
    ...stage.exitApprovals.flatMap(({ role }, j) => check(stage, role, ['stages', index, 'exitApprovals', j, 'role'])),
  ]);
}

const CRM_STAGE_VALUE: Record<CrmSource, string> = {
  hubspot: 'HubSpot dealstage',
  pipedrive: 'Pipedrive stage_id',
  salesforce: 'Salesforce StageName',
};

function crmProblems({ stages, crm }: PipelineConfig): Problem[] {
  const maps = (Object.keys(CRM_STAGE_VALUE) as CrmSource[]).flatMap((source) =>
    Object.entries(crm[source]?.stages ?? {}).flatMap(([value, key]) =>
      stageReference(
        stages,
        ['crm', source, 'stages', value],
        `${CRM_STAGE_VALUE[source]} '${value}' maps to`,
        key,
        'any',
      ),
    ),
  );
  const status = crm.pipedrive?.status ?? {};
  const statuses = (['won', 'lost'] as const).flatMap((outcome) => {
    const key = status[outcome];
    const path = ['crm', 'pipedrive', 'status', outcome];
    return key === undefined ? [] : stageReference(stages, path, `Pipedrive status '${outcome}' maps to`, key, outcome);
  });
  return [...maps, ...statuses];
}

function timingProblems({ approvalTiming }: PipelineConfig): Problem[] {
  const { reminderAfterHours: reminder, expireAfterHours: expiry } = approvalTiming;
  if (expiry > reminder) return [];
  const message =
    `approvals expire after ${expiry} h, before the reminder due after ${reminder} h could go out` +
    ' — make expireAfterHours greater than reminderAfterHours';
  return [{ path: ['approvalTiming', 'expireAfterHours'], message }];
}

/** `retiredStages` maps keys that are gone to open stages that exist: a key still in `stages` is not retired. */
function retiredStageProblems({ stages, retiredStages }: PipelineConfig): Problem[] {
  return Object.entries(retiredStages).flatMap(([retired, target]) => {
    const path = ['retiredStages', retired];
    const still = stages.find((stage) => stage.key === retired);
    const kept: Problem[] = still
      ? [
          {
            path,
            at: 'key',
            message:
              `stage '${retired}' is retired here but still listed in stages` +
              ' — remove it from stages, or remove this retiredStages entry',
          },
        ]
      : [];
    return [...kept, ...stageReference(stages, path, `retired stage '${retired}' maps to`, target, 'open')];
  });
}

function staleAfterProblems(stages: readonly StageConfig[]): Problem[] {
  return stages.flatMap((stage, index): Problem[] => {
    if (!stage.closed || stage.staleAfterDays === undefined) return [];
    const message =
      `closed stage '${stage.key}' has staleAfterDays, but a closed deal never goes stale` +
      ' — set staleAfterDays on the open stages only';
    return [{ path: ['stages', index, 'staleAfterDays'], at: 'key', message }];
  });
}

function pipelineIdProblems(pipeline: string, file: string): Problem[] {
  const extension = extname(file);
  if (!/^\.ya?ml$/i.test(extension)) return [];
  const stem = basename(file, extension);
  if (stem === pipeline) return [];
  const message =
    `pipeline id '${pipeline}' does not match the file name '${basename(file)}'` +
    ` — rename the file to '${pipeline}${extension}' or set 'pipeline: ${stem}'`;
  return [{ path: ['pipeline'], message }];
}

// Locating problems in the YAML document.

function locateProblem(problem: Problem, doc: Document, lineCounter: LineCounter, file: string): ErrorIssue {
  const { line, col } = lineCounter.linePos(problem.offset ?? offsetOf(doc, problem));
  return { file, path: formatPath(problem.path), line, column: col, message: problem.message };
}

/** The start of the node at the problem's path, or of its deepest ancestor in the file when the path is missing. */
function offsetOf(doc: Document, { path, at }: Problem): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [index, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let key: unknown;
    let value: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      key = pair.key;
      // An empty value (`name:`) has no text of its own: point at its key.
      value = isScalar(pair.value) && pair.value.value === null ? undefined : pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      value = node.items[segment];
    } else {
      break;
    }
    const preferKey = at === 'key' && index === path.length - 1;
    offset = (preferKey ? startOf(key) : undefined) ?? startOf(value) ?? startOf(key) ?? offset;
    node = value;
  }
  return offset;
}

/** The path of the innermost node around an offset, so a YAML syntax error is named like any other problem. */
function pathAtOffset(doc: Document, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = doc.contents;
  while (isMap(node) || isSeq(node)) {
    if (isMap(node)) {
      const pair = node.items.find((item) => contains(item.key, offset) || contains(item.value, offset));
      if (!pair || !isScalar(pair.key)) break;
      path.push(String(pair.key.value));
      // The error is at this key or at the very start of its value: deeper nodes are the parser's guesses.
      if (contains(pair.key, offset) || startOf(pair.value) === offset) break;
      node = pair.value;
    } else {
      const index = node.items.findIndex((item) => contains(item, offset));
      if (index < 0) break;
      path.push(index);
      node = node.items[index];
    }
  }
  return path;
}

function startOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

function contains(node: unknown, offset: number): boolean {
  const range = isNode(node) ? node.range : undefined;
  return range !== undefined && range !== null && range[0] <= offset && offset < Math.max(range[2], range[0] + 1);
}

/** `stages[4].exitApprovals[0].role`; keys that are not plain words are quoted: `stages["Closed Won"]`. */
function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      if (!/^[A-Za-z_$][\w$]*$/.test(segment)) return `[${JSON.stringify(segment)}]`;
      return index === 0 ? segment : `.${segment}`;
    })
    .join('');
}
