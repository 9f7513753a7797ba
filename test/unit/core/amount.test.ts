import { describe, expect, it } from 'vitest';
import { amountOf } from '../../../functions/core/amount.ts';

describe('amountOf', () => {
  it.each([
    [{ amount: 48000 }, { value: 48000, text: null, currency: null }],
    [
      { Amount: ' 1234.5 ', CurrencyIsoCode: 'EUR' },
      { value: 1234.5, text: null, currency: 'EUR' },
    ],
    [
      { amount: '', value: '950' },
      { value: 950, text: null, currency: null },
    ],
    [
      { amount: '  ', value: 12 },
      { value: 12, text: null, currency: null },
    ],
    [
      { amount: Number.NaN, value: 7 },
      { value: 7, text: null, currency: null },
    ],
    [
      { value: 'about 10k', currency: 'USD' },
      { value: null, text: 'about 10k', currency: 'USD' },
    ],
    [
      { amount: true, currency: 'usd' },
      { value: null, text: null, currency: null },
    ],
    [{}, { value: null, text: null, currency: null }],
  ])('reads %j as %j', (fields, expected) => {
    expect(amountOf(fields)).toEqual(expected);
  });
});
