import { distance as levenshtein } from 'fastest-levenshtein';
import type { YAMLError } from 'yaml';
import * as z from 'zod';
import { PipelineConfigSchema } from '../pipeline-config.ts';
import type { PathSegment, Problem } from './types.ts';

/**
 * Config problems in the words of someone editing a stage config: YAML syntax errors and zod issues, each with what to
 * write instead, taken from the schema's own descriptions and keys.
 */

/** A YAML syntax error in the words of someone editing a stage config, with how to fix it. */
export function yamlErrorMessage(error: YAMLError): string {
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

/** A schema issue as problems located by path; zod's own messages say what is wrong, these also say what to write. */
export function explainSchemaIssue(issue: z.core.$ZodIssue): Problem[] {
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

/** A value as a sentence names it: `'won'`, `a list`, `nothing`. */
export function describeValue(value: unknown): string {
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
export function suggest(word: string, candidates: readonly string[], fallback: string): string {
  const budget = Math.max(1, Math.floor(word.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= budget && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best ? `did you mean '${best.candidate}'?` : fallback;
}
