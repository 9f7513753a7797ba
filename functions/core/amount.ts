import type { Fields } from './deal.ts';

/** Where CRMs keep a deal's value: HubSpot `amount`, Salesforce `Amount`, Pipedrive `value`. */
export const AMOUNT_FIELDS = ['amount', 'Amount', 'value'] as const;

/** Where CRMs keep its currency: Pipedrive `currency`, HubSpot `deal_currency_code`, Salesforce `CurrencyIsoCode`. */
export const CURRENCY_FIELDS = ['currency', 'deal_currency_code', 'CurrencyIsoCode'] as const;

/**
 * The largest amount summed into totals (a trillion in any currency). Bounded so that the totals of a column stay
 * exact and storable as numbers: thousands of deals at this amount still sum below 2^53.
 */
export const MAX_SUMMABLE_AMOUNT = 1e12;

/** The most significant digits a summed amount may have: beyond 15, a double no longer holds the decimal exactly. */
export const MAX_AMOUNT_DIGITS = 15;

/** Why an amount that is a number is not summed: beyond {@link MAX_SUMMABLE_AMOUNT}, or more digits than a double holds. */
export type AmountNotSummable = 'too_large' | 'too_precise';

/** A deal's amount as its CRM sent it. */
export interface Amount {
  /** The amount as a number, when it can be summed exactly; null otherwise (no amount, text, or not summable). */
  value: number | null;
  /**
   * The amount's text (trimmed) when it is not a summable number: text that is not a number (`about 10k`), or a number
   * kept as it came because it cannot be summed exactly (`10000000000000000`); else null.
   */
  text: string | null;
  /** The ISO 4217 code of the currency, when the CRM sent one. */
  currency: string | null;
  /**
   * Set when the amount is a number that is left out of totals (so a page can say so); null when it is summed, or is
   * not a number at all.
   */
  notSummable: AmountNotSummable | null;
}

/**
 * Reads a deal's amount: the first amount field holding a number or non-blank text, and the first currency field
 * holding an ISO 4217 code. A number is summed only when it is finite, at most {@link MAX_SUMMABLE_AMOUNT} in size and
 * has at most {@link MAX_AMOUNT_DIGITS} significant digits; any other amount is kept as its text and left out of
 * totals. The board's totals and every page and email read the amount through this one rule.
 */
export function amountOf(fields: Fields): Amount {
  const raw = AMOUNT_FIELDS.map((field) => fields[field]).find(
    (value): value is number | string =>
      (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.trim() !== ''),
  );
  const currency =
    CURRENCY_FIELDS.map((field) => fields[field]).find(
      (code): code is string => typeof code === 'string' && /^[A-Z]{3}$/.test(code),
    ) ?? null;
  if (raw === undefined) return { value: null, text: null, currency, notSummable: null };
  const text = typeof raw === 'number' ? String(raw) : raw.trim();
  if (!DECIMAL.test(text)) return { value: null, text, currency, notSummable: null };
  const value = typeof raw === 'number' ? raw : Number(text);
  const notSummable = summability(text, value);
  return notSummable === null
    ? { value, text: null, currency, notSummable: null }
    : { value: null, text, currency, notSummable };
}

/** A plain decimal, as CRMs send amounts: sign, digits, optional fraction and exponent (no hex, no `Infinity`). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function summability(text: string, value: number): AmountNotSummable | null {
  if (!Number.isFinite(value) || Math.abs(value) > MAX_SUMMABLE_AMOUNT) return 'too_large';
  return significantDigits(text) > MAX_AMOUNT_DIGITS ? 'too_precise' : null;
}

/** The significant digits of a decimal's text: `0.00120` has 2, `1200` has 2, `100.5` has 4. */
function significantDigits(text: string): number {
  const mantissa = text.replace(/^[+-]/, '').replace(/e.*$/i, '');
  const [whole = '', rawFraction = ''] = mantissa.split('.');
  const fraction = rawFraction.replace(/0+$/, '');
  const digits = `${whole}${fraction}`.replace(/^0+/, '');
  const significant = fraction === '' ? digits.replace(/0+$/, '') : digits;
  return Math.max(1, significant.length);
}
