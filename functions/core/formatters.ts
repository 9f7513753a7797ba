/**
 * The Intl formatters the messages use. Building one loads ICU data and costs tens of milliseconds, so each is built
 * on first use and reused: importing the core stays cheap, which is what a Lambda cold start pays for.
 */

function once<T>(create: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= create();
    return value;
  };
}

/** "a, b or c" */
export const anyOfList = once(() => new Intl.ListFormat('en', { type: 'disjunction' }));

/** "a, b and c" */
export const allOfList = once(() => new Intl.ListFormat('en', { type: 'conjunction' }));

/** "27 Nov 2026, 10:00" in UTC */
export const utcDateTime = once(
  () => new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
);

const amountFormats = new Map<string, Intl.NumberFormat>();

/** An amount in a currency (ISO 4217 code), or a plain number when the currency is unknown. */
export function amountFormat(currency: string | undefined): Intl.NumberFormat {
  const key = currency ?? '';
  let format = amountFormats.get(key);
  if (!format) {
    format = currency
      ? new Intl.NumberFormat('en-US', { style: 'currency', currency })
      : new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
    amountFormats.set(key, format);
  }
  return format;
}
