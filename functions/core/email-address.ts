import * as z from 'zod/mini';

/** Email addresses as the pipeline configs and the deals' fields hold them. */

const address = z.email();

/** Whether two addresses name the same mailbox (compared case-insensitively). */
export function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Whether `text` is an email address, by the same rule a config's `email` keys are checked with (zod's `email()`). */
export function isEmailAddress(text: string): boolean {
  return address.safeParse(text).success;
}
