import { describe, expect, it } from 'vitest';
import { amountOf } from '../../../functions/core/amount.ts';

describe('amountOf', () => {
  it.each([
    [{ amount: 48000 }, { value: 48000, text: null, currency: null, notSummable: null }],
    [
      { Amount: ' 1234.5 ', CurrencyIsoCode: 'EUR' },
      { value: 1234.5, text: null, currency: 'EUR', notSummable: null },
    ],
    [
      { amount: '', value: '950' },
      { value: 950, text: null, currency: null, notSummable: null },
    ],
    [
      { amount: '  ', value: 12 },
      { value: 12, text: null, currency: null, notSummable: null },
    ],
    [
      { amount: Number.NaN, value: 7 },
      { value: 7, text: null, currency: null, notSummable: null },
    ],
    [
      { value: 'about 10k', currency: 'USD' },
      { value: null, text: 'about 10k', currency: 'USD', notSummable: null },
    ],
    [
      { amount: true, currency: 'usd' },
      { value: null, text: null, currency: null, notSummable: null },
    ],
    [{}, { value: null, text: null, currency: null, notSummable: null }],
    [{ amount: '1000000000000.00' }, { value: 1e12, text: null, currency: null, notSummable: null }],
    [{ amount: '0.000120' }, { value: 0.00012, text: null, currency: null, notSummable: null }],
  ])('reads %j as %j', (fields, expected) => {
    expect(amountOf(fields)).toEqual(expected);
  });

  it.each([
    ['10000000000000000', 'too_large'],
    ['9007199254740993', 'too_large'],
    ['1000000000001', 'too_large'],
    ['1e400', 'too_large'],
    ['-1e13', 'too_large'],
    ['12.3456789012345678', 'too_precise'],
    ['1.000000000000000000001', 'too_precise'],
  ])('keeps %s as text, left out of totals (%s)', (amount, reason) => {
    expect(amountOf({ amount, currency: 'EUR' })).toEqual({
      value: null,
      text: amount,
      currency: 'EUR',
      notSummable: reason,
    });
  });

  it('keeps a number field beyond the bound as its text', () => {
    expect(amountOf({ amount: 2 ** 53 })).toMatchObject({
      value: null,
      text: '9007199254740992',
      notSummable: 'too_large',
    });
    expect(amountOf({ amount: 0.1 + 0.2 })).toMatchObject({ value: null, notSummable: 'too_precise' });
  });

  it.each(['0x10', 'Infinity', '1,000', '12 EUR'])('reads %s as text that is not a number', (amount) => {
    expect(amountOf({ amount })).toEqual({ value: null, text: amount, currency: null, notSummable: null });
  });
});
