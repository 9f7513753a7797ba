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

/**
 * A stored link: the token's hash, bound to the person's request it was emailed for (`<hash>#<askId>`). A link of an
 * approval stored before per-person requests is the bare hash.
 */
export function storedLink(tokenHash: string, askId: string): string {
  return askId === '' ? tokenHash : `${tokenHash}#${askId}`;
}

/**
 * Constant-time check of a presented token against the stored links.
 * @returns the request the matching link was emailed for (`''` for a bare hash), or null when none matches
 */
export function approvalTokenAsk(token: string, links: readonly string[], signingKey: string): string | null {
  const presented = Buffer.from(hashApprovalToken(token, signingKey), 'hex');
  let match: string | null = null;
  for (const link of links) {
    const [hash = '', askId = ''] = link.split('#');
    const stored = Buffer.from(hash, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) match = askId;
  }
  return match;
}
