import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Review-link tokens: 256 random bits, base64url in the link, stored only as a keyed hash (HMAC-SHA256 with the
 * link signing key), so a copy of the table cannot be turned into working links.
 */
export function newApprovalToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashApprovalToken(token: string, signingKey: string): string {
  return createHmac('sha256', signingKey).update(token).digest('hex');
}

/** Constant-time check of a presented token against the stored hashes. */
export function approvalTokenMatches(token: string, hashes: readonly string[], signingKey: string): boolean {
  const presented = Buffer.from(hashApprovalToken(token, signingKey), 'hex');
  let match = false;
  for (const hash of hashes) {
    const stored = Buffer.from(hash, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) match = true;
  }
  return match;
}
