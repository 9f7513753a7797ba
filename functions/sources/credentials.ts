import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../core/errors.ts';

/**
 * Compares a presented credential with the expected one in constant time. Both sides are hashed first so that the
 * buffers `timingSafeEqual` compares always have the same length and the comparison leaks neither content nor length.
 */
export function safeEqual(presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** HMAC-SHA256 of a utf8 payload, encoded as the sender encodes its signature. */
export function hmacSha256(secret: string, payload: string, encoding: 'hex' | 'base64'): string {
  return createHmac('sha256', secret).update(payload, 'utf8').digest(encoding);
}

/**
 * The configured secret, or a refusal when it is empty: an empty HMAC key or password would let anyone sign.
 * `name` is the environment variable that holds it, so the message says what to set — never the value.
 */
export function configuredSecret(value: string, name: string): string {
  if (value.length === 0) {
    throw new UnauthorizedError(`this server has no ${name} configured, so no request can be verified — set it`);
  }
  return value;
}
