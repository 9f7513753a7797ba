/**
 * The Intl list formatters the reason messages use. Building one loads ICU data and costs tens of milliseconds, so
 * each is built on first use and reused: importing the core stays cheap, which is what a Lambda cold start pays for.
 */

/** A value built on the first call and returned by every later one. */
export function once<T>(create: () => T): () => T {
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
