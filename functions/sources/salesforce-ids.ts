import { safeEqual } from './credentials.ts';

/*
 * Salesforce ids come in two forms: 15 characters, case-sensitive (what Setup shows, e.g. the org id on Company
 * Information), and 18 characters, case-insensitive (what the API and outbound messages send): the 15 followed by a
 * 3-character checksum of their capitalisation. Each block of five characters gives one suffix character: bit `i`
 * is set when character `i` of the block is an upper-case letter, and the 5-bit number indexes
 * `SUFFIX_ALPHABET`.
 */

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const ID = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;

/**
 * The 18-character form of a Salesforce id given in either form, or undefined for text that is no Salesforce id.
 * An 18-character id is returned as given.
 */
export function caseSafeSalesforceId(id: string): string | undefined {
  if (!ID.test(id)) return undefined;
  if (id.length === 18) return id;
  let suffix = '';
  for (let block = 0; block < 15; block += 5) {
    let bits = 0;
    for (let i = 0; i < 5; i += 1) {
      const char = id.charAt(block + i);
      if (char >= 'A' && char <= 'Z') bits |= 1 << i;
    }
    suffix += SUFFIX_ALPHABET.charAt(bits);
  }
  return `${id}${suffix}`;
}

/**
 * Whether two Salesforce ids, each in its 15- or 18-character form, name the same record: their 18-character forms
 * are equal ignoring case (the checksum suffix carries the capitalisation that case-insensitive text would lose).
 * A 15-character id is case-sensitive, so it is extended, never compared by case-folding.
 */
export function sameSalesforceId(a: string, b: string): boolean {
  const [left, right] = [caseSafeSalesforceId(a.trim()), caseSafeSalesforceId(b.trim())];
  return left !== undefined && right !== undefined && safeEqual(left.toUpperCase(), right.toUpperCase());
}
