import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { criterionHolds, describeCriterion, unmetCriteria } from '../../../functions/core/criteria.ts';
import type { Criterion } from '../../../functions/core/pipeline-config.ts';

const present: Criterion = { field: 'decisionMaker', require: 'present' };
const date: Criterion = { field: 'firstMeetingDate', require: 'date' };
const isTrue: Criterion = { field: 'budgetConfirmed', require: 'equals', value: true };
const isFalse: Criterion = { field: 'onHold', require: 'equals', value: false };
const isSeven: Criterion = { field: 'seats', require: 'equals', value: 7 };
const isEu: Criterion = { field: 'region', require: 'equals', value: 'EU' };
const discount: Criterion = { field: 'discountPercent', require: 'number', greaterThan: 20 };
const anyNumber: Criterion = { field: 'amount', require: 'number' };
const band: Criterion = { field: 'amount', require: 'number', atLeast: 10, atMost: 50 };
const open: Criterion = { field: 'amount', require: 'number', lessThan: 10 };

describe('criterionHolds', () => {
  it.each<[string, Criterion, unknown, boolean]>([
    ['present: a name', present, 'Jane Roe', true],
    ['present: a number', present, 0, true],
    ['present: false', present, false, true],
    ['present: a list', present, ['a'], true],
    ['present: missing', present, undefined, false],
    ['present: null', present, null, false],
    ['present: empty string', present, '', false],
    ['present: whitespace', present, '  \t', false],
    ['present: empty list', present, [], false],
    ['date: YYYY-MM-DD', date, '2026-11-20', true],
    ['date: leap day', date, '2024-02-29', true],
    ['date: UTC timestamp', date, '2026-11-20T10:00:00Z', true],
    ['date: timestamp with offset', date, '2026-11-20T10:00:00.123+02:00', true],
    ['date: local timestamp', date, '2026-11-20T10:00:00', true],
    ['date: 30 February', date, '2026-02-30', false],
    ['date: 29 February of a common year', date, '2025-02-29', false],
    ['date: month 13', date, '2026-13-01', false],
    ['date: hour 25', date, '2026-11-20T25:00:00Z', false],
    ['date: compact form', date, '20261120', false],
    ['date: words', date, 'next Tuesday', false],
    ['date: epoch milliseconds (HubSpot)', date, 1_763_596_800_000, true],
    ['date: epoch milliseconds as text (HubSpot)', date, '1763596800000', true],
    ['date: a small number', date, 42, false],
    ['date: missing', date, undefined, false],
    ['equals true: true', isTrue, true, true],
    ['equals true: "true"', isTrue, 'true', true],
    ['equals true: "TRUE"', isTrue, 'TRUE', true],
    ['equals true: false', isTrue, false, false],
    ['equals true: "false"', isTrue, 'false', false],
    ['equals true: "yes"', isTrue, 'yes', false],
    ['equals true: 1', isTrue, 1, false],
    ['equals true: missing', isTrue, undefined, false],
    ['equals false: false', isFalse, false, true],
    ['equals false: "false"', isFalse, 'false', true],
    ['equals false: missing', isFalse, undefined, false],
    ['equals 7: 7', isSeven, 7, true],
    ['equals 7: "7"', isSeven, '7', true],
    ['equals 7: "7.0"', isSeven, '7.0', true],
    ['equals 7: "0x7"', isSeven, '0x7', false],
    ['equals 7: 8', isSeven, 8, false],
    ['equals "EU": "EU"', isEu, 'EU', true],
    ['equals "EU": "eu"', isEu, 'eu', false],
    ['number > 20: 25', discount, 25, true],
    ['number > 20: "25"', discount, '25', true],
    ['number > 20: "20.5"', discount, '20.5', true],
    ['number > 20: 20', discount, 20, false],
    ['number > 20: "20"', discount, '20', false],
    ['number > 20: "abc"', discount, 'abc', false],
    ['number > 20: ""', discount, '', false],
    ['number > 20: Infinity', discount, Number.POSITIVE_INFINITY, false],
    ['number > 20: "Infinity"', discount, 'Infinity', false],
    ['number > 20: missing', discount, undefined, false],
    ['number: any finite number', anyNumber, -3.5, true],
    ['number: numeric string with spaces', anyNumber, ' 12 ', true],
    ['number: NaN', anyNumber, Number.NaN, false],
    ['number: a boolean', anyNumber, true, false],
    ['number in [10, 50]: 10', band, 10, true],
    ['number in [10, 50]: 50', band, '50', true],
    ['number in [10, 50]: 9.99', band, 9.99, false],
    ['number in [10, 50]: 51', band, 51, false],
    ['number < 10: 9', open, 9, true],
    ['number < 10: 10', open, 10, false],
  ])('%s', (_, criterion, value, holds) => {
    const fields = value === undefined ? {} : { [criterion.field]: value };
    expect(criterionHolds(criterion, fields)).toBe(holds);
  });

  it('reads only the deal’s own fields, never inherited properties', () => {
    expect(criterionHolds({ field: 'constructor', require: 'present' }, {})).toBe(false);
    expect(criterionHolds({ field: 'toString', require: 'present' }, {})).toBe(false);
  });

  it('accepts every real calendar day and nothing after its month’s end', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1900-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }), (d) => {
        const day = d.toISOString().slice(0, 10);
        expect(criterionHolds(date, { firstMeetingDate: day })).toBe(true);
        expect(criterionHolds(date, { firstMeetingDate: d.toISOString() })).toBe(true);
        const [y, m] = day.split('-');
        const daysInMonth = new Date(Date.UTC(Number(y), Number(m), 0)).getUTCDate();
        expect(criterionHolds(date, { firstMeetingDate: `${y}-${m}-${daysInMonth + 1}` })).toBe(false);
      }),
    );
  });

  it('treats a number and its decimal string alike', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(criterionHolds(discount, { discountPercent: String(n) })).toBe(n > 20);
        expect(criterionHolds(discount, { discountPercent: n })).toBe(n > 20);
      }),
    );
  });
});

describe('unmetCriteria', () => {
  it('lists the criteria that fail, in their configured order', () => {
    const fields = { decisionMaker: 'Jane', budgetConfirmed: 'false', discountPercent: '30' };
    expect(unmetCriteria([present, date, isTrue, discount], fields)).toEqual([date, isTrue]);
  });

  it('is empty when every criterion holds', () => {
    expect(unmetCriteria([present, date], { decisionMaker: 'Jane', firstMeetingDate: '2026-11-20' })).toEqual([]);
  });
});

describe('describeCriterion', () => {
  it.each<[Criterion, string]>([
    [present, 'decisionMaker is filled in'],
    [date, 'firstMeetingDate is a date'],
    [isTrue, 'budgetConfirmed = true'],
    [isSeven, 'seats = 7'],
    [isEu, 'region = "EU"'],
    [discount, 'discountPercent > 20'],
    [anyNumber, 'amount is a number'],
    [band, 'amount >= 10 and <= 50'],
  ])('%o reads "%s"', (criterion, words) => {
    expect(describeCriterion(criterion)).toBe(words);
  });
});
