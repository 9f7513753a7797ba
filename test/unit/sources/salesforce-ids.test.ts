import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { caseSafeSalesforceId, sameSalesforceId } from '../../../functions/sources/salesforce-ids.ts';

describe('Salesforce ids in 15 and 18 characters', () => {
  it.each([
    ['70130000001tcyI', '70130000001tcyIAAQ'],
    ['00D000000000062', '00D000000000062EAA'],
    ['AAaAAbbBBBCcCCC', 'AAaAAbbBBBCcCCC123'],
    ['ABCDEFGHIJKLMNO', 'ABCDEFGHIJKLMNO555'],
    ['00D000000000062EAA', '00D000000000062EAA'],
  ])('gives %s as %s', (id, caseSafe) => {
    expect(caseSafeSalesforceId(id)).toBe(caseSafe);
  });

  it.each(['', '00D00000000006', '00D0000000000620', '00D000000000062EA-'])('has no 18-character form for %j', (id) => {
    expect(caseSafeSalesforceId(id)).toBeUndefined();
  });

  const id15 = fc.stringMatching(/^[a-zA-Z0-9]{15}$/);

  it('tells apart any two 15-character ids that differ, if only in case, however their 18 characters are cased', () => {
    fc.assert(
      fc.property(id15, id15, (a, b) => {
        const [longA, longB] = [caseSafeSalesforceId(a) as string, caseSafeSalesforceId(b) as string];
        expect(sameSalesforceId(a, longB.toLowerCase())).toBe(a === b);
        expect(sameSalesforceId(longA.toUpperCase(), b)).toBe(a === b);
      }),
    );
  });
});
