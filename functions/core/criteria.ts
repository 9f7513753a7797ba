import * as z from 'zod/mini';
import type { Fields } from './deal.ts';
import type { Criterion, StageConfig } from './pipeline-config.ts';

/**
 * Exit and entry criteria: conditions on one deal field each. CRMs send nearly every value as a string, so the
 * checks accept the string forms of booleans and numbers as well as the typed values.
 */

const isoDate = z.union([z.iso.date(), z.iso.datetime({ offset: true, local: true })]);

/** Decimal notation only: `Number()` alone would also take '0x1A', '' and ' ' as numbers. */
const decimal = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function fieldValue(fields: Fields, field: string): unknown {
  return Object.hasOwn(fields, field) ? fields[field] : undefined;
}

function isPresent(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && decimal.test(value.trim())) {
    const parsed = Number(value.trim());
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

function equalsExpected(value: unknown, expected: Criterion['value']): boolean {
  if (value === expected) return true;
  // A multiple-choice field (a Pipedrive `set`) holds the expected value when any of its choices is it.
  if (Array.isArray(value)) return value.some((item) => !Array.isArray(item) && equalsExpected(item, expected));
  if (typeof expected === 'boolean')
    return typeof value === 'string' && value.trim().toLowerCase() === String(expected);
  if (typeof expected === 'number') return typeof value === 'string' && asNumber(value) === expected;
  return false;
}

function withinBounds(n: number, c: Criterion): boolean {
  return (
    (c.greaterThan === undefined || n > c.greaterThan) &&
    (c.atLeast === undefined || n >= c.atLeast) &&
    (c.lessThan === undefined || n < c.lessThan) &&
    (c.atMost === undefined || n <= c.atMost)
  );
}

/**
 * HubSpot sends date properties as epoch milliseconds ("1763596800000"); 12 or 13 digits cover 1973–2286, so a
 * compact form such as "20261120" is never taken for one.
 */
const EPOCH_MILLIS = /^\d{12,13}$/;

/** An ISO date or timestamp, or epoch milliseconds as a CRM sends a date property. */
function isDate(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && EPOCH_MILLIS.test(String(value));
  if (typeof value !== 'string') return false;
  const text = value.trim();
  return EPOCH_MILLIS.test(text) || isoDate.safeParse(text).success;
}

/** Whether the deal's fields satisfy one criterion. */
export function criterionHolds(c: Criterion, fields: Fields): boolean {
  const value = fieldValue(fields, c.field);
  switch (c.require) {
    case 'present':
      return isPresent(value);
    case 'date':
      return isDate(value);
    case 'equals':
      return equalsExpected(value, c.value);
    case 'number': {
      const n = asNumber(value);
      return n !== undefined && withinBounds(n, c);
    }
  }
}

/**
 * How a condition reads the deal's fields: `holds`, `fails`, or `unreadable` when its field holds a value of the
 * wrong kind ("30%", "0x1E", `[30]` for a number; "soon" for a date). Conditions that grant leniency, such as the
 * `when` of an approval, treat `unreadable` as holding: they fail closed.
 */
export function readCondition(c: Criterion, fields: Fields): 'holds' | 'fails' | 'unreadable' {
  if (criterionHolds(c, fields)) return 'holds';
  const value = fieldValue(fields, c.field);
  if (!isPresent(value)) return 'fails';
  if (c.require === 'number' && asNumber(value) === undefined) return 'unreadable';
  if (c.require === 'date') return 'unreadable';
  return 'fails';
}

/** The criteria the fields do not satisfy, in their configured order. */
export function unmetCriteria(cs: Criterion[], fields: Fields): Criterion[] {
  return cs.filter((c) => !criterionHolds(c, fields));
}

/** A criterion in words for messages, e.g. `budgetConfirmed = true` or `discountPercent > 20`. */
export function describeCriterion(c: Criterion): string {
  switch (c.require) {
    case 'present':
      return `${c.field} is filled in`;
    case 'date':
      return `${c.field} is a date`;
    case 'equals':
      return `${c.field} = ${typeof c.value === 'string' ? JSON.stringify(c.value) : String(c.value)}`;
    case 'number': {
      const bounds = [
        c.greaterThan === undefined ? null : `> ${c.greaterThan}`,
        c.atLeast === undefined ? null : `>= ${c.atLeast}`,
        c.lessThan === undefined ? null : `< ${c.lessThan}`,
        c.atMost === undefined ? null : `<= ${c.atMost}`,
      ].filter((b) => b !== null);
      return bounds.length === 0 ? `${c.field} is a number` : `${c.field} ${bounds.join(' and ')}`;
    }
  }
}

/** The exit criteria of `stage` that the fields do not meet yet: what the owner still has to do. */
export function openExitCriteria(stage: StageConfig, fields: Fields): Criterion[] {
  return unmetCriteria(stage.exitCriteria, fields);
}
