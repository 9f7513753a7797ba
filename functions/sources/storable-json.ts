import { toDotPath } from 'zod/v4/core';
import { BadRequestError } from '../core/errors.ts';

/**
 * What a webhook body may hold so that every value of it can be stored as it came. DynamoDB nests at most 32 levels
 * (a deal's fields sit three levels down its item) and stores numbers as exact decimals; JavaScript reads JSON numbers
 * as doubles and recurses over nesting. Bodies beyond these limits are refused with a 400 naming the limit, so a
 * sender never gets a 500 it would retry forever.
 */

/** The deepest nesting of a webhook body; the field values inside stay well within DynamoDB's 32 levels. */
export const MAX_JSON_DEPTH = 20;

/** The longest object key (field name) taken; CRM field names are far shorter (HubSpot ≤ 100, Salesforce ≤ 43). */
export const MAX_KEY_LENGTH = 256;

/**
 * Keys that cannot be stored as ordinary keys: assigning `__proto__` replaces an object's prototype (the storage
 * layer's marshalling would drop it), so it is refused rather than silently lost.
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__']);

/** DynamoDB's number range (its smallest positive magnitude is 1e-130) within which a double is stored exactly. */
function isStorableNumber(n: number): boolean {
  return Number.isFinite(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER && (n === 0 || Math.abs(n) >= 1e-130);
}

/**
 * Checks a parsed JSON body against the limits (iteratively, so that no nesting overflows the stack) and returns it
 * ready to store: when the body has numbers a double cannot hold exactly (beyond 2^53, `1e400`, `1e-400`), it is
 * parsed again keeping each such number as its exact decimal text, so nothing the sender wrote is altered.
 *
 * @throws BadRequestError `TOO_DEEP`, `KEY_TOO_LONG` or `RESERVED_KEY`, with the path of the first offender.
 */
export function storableJson(rawBody: string, parsed: unknown): unknown {
  let inexact = false;
  const pending: { value: unknown; path: PropertyKey[] }[] = [{ value: parsed, path: [] }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path } = next;
    if (typeof value === 'number') {
      inexact ||= !isStorableNumber(value);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= MAX_JSON_DEPTH) throw tooDeep(path);
    const entries: [PropertyKey, unknown][] = Array.isArray(value)
      ? value.map((item, index) => [index, item])
      : Object.entries(value);
    for (const [key, item] of entries) {
      if (typeof key === 'string') checkKey(key, path);
      pending.push({ value: item, path: [...path, key] });
    }
  }
  return inexact ? JSON.parse(rawBody, keepInexactNumbers) : parsed;
}

function keepInexactNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === 'number' && !isStorableNumber(value) && context?.source !== undefined
    ? context.source
    : value;
}

function checkKey(key: string, path: PropertyKey[]): void {
  if (key.length > MAX_KEY_LENGTH) {
    throw new BadRequestError(
      'KEY_TOO_LONG',
      `a field name is ${key.length} characters long; names of at most ${MAX_KEY_LENGTH} characters are taken — ` +
        'use the CRM field’s internal name',
      [{ path: toDotPath([...path, `${key.slice(0, 32)}…`]), message: `longer than ${MAX_KEY_LENGTH} characters` }],
    );
  }
  if (RESERVED_KEYS.has(key)) {
    throw new BadRequestError(
      'RESERVED_KEY',
      `'${key}' cannot be a field name (JavaScript reserves it for object prototypes) — rename the field`,
      [{ path: toDotPath([...path, key]), message: 'reserved name' }],
    );
  }
}

function tooDeep(path: PropertyKey[]): BadRequestError {
  return new BadRequestError(
    'TOO_DEEP',
    `the body nests deeper than ${MAX_JSON_DEPTH} levels, which cannot be stored — flatten the field values`,
    [{ path: toDotPath(path), message: `nested beyond ${MAX_JSON_DEPTH} levels` }],
  );
}
