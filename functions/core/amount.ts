import type { Fields } from './deal.ts';

/** Where CRMs keep a deal's value: HubSpot `amount`, Salesforce `Amount`, Pipedrive `value`. */
export const AMOUNT_FIELDS = ['amount', 'Amount', 'value'] as const;

/** Where CRMs keep its currency: Pipedrive `currency`, HubSpot `deal_currency_code`, Salesforce `CurrencyIsoCode`. */
export const CURRENCY_FIELDS = ['currency', 'deal_currency_code', 'CurrencyIsoCode'] as const;

/** A deal's amount as its CRM sent it. */
export interface Amount {
  /** The amount as a number; null when no amount field is set or its text is not a number. */
  value: number | null;
  /** The amount's text (trimmed) when the CRM sent text that is not a number, e.g. `about 10k`; else null. */
  text: string | null;
  /** The ISO 4217 code of the currency, when the CRM sent one. */
  currency: string | null;
}

/**
 * Reads a deal's amount: the first amount field holding a finite number or non-blank text, and the first currency
 * field holding an ISO 4217 code. The board's totals and every page and email read the amount through this one rule.
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
  if (raw === undefined) return { value: null, text: null, currency };
  if (typeof raw === 'number') return { value: raw, text: null, currency };
  const text = raw.trim();
  const value = Number(text);
  return Number.isFinite(value) ? { value, text: null, currency } : { value: null, text, currency };
}
