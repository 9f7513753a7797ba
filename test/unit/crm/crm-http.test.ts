import { describe, expect, it } from 'vitest';
import { CrmHttp, type CrmResponse, retryAfterMs } from '../../../functions/adapters/crm/http.ts';
import { fastRetries } from './fast-retries.ts';

const NOW = Date.parse('2026-12-02T15:00:00Z');
const headers = (entries: Record<string, string>) => new Headers(entries);

describe('retryAfterMs', () => {
  it.each([
    ['Retry-After in seconds', 429, { 'retry-after': '2' }, 2_000],
    ['fractional seconds', 503, { 'retry-after': '0.5' }, 500],
    ['Retry-After as an HTTP date', 503, { 'retry-after': 'Wed, 02 Dec 2026 15:00:30 GMT' }, 30_000],
    ['an HTTP date already past', 429, { 'retry-after': 'Wed, 02 Dec 2026 14:00:00 GMT' }, 0],
    ["Pipedrive's x-ratelimit-reset on a 429", 429, { 'x-ratelimit-reset': '10' }, 10_000],
    ['Retry-After over x-ratelimit-reset', 429, { 'retry-after': '3', 'x-ratelimit-reset': '10' }, 3_000],
  ])('%s', (_name, status, entries, expected) => {
    expect(retryAfterMs(status, headers(entries), NOW)).toBe(expected);
  });

  it.each([
    ['no header', 429, {}],
    [
      'x-ratelimit-reset on a 503 (Pipedrive sends it on every answer; only a 429 is over the window)',
      503,
      { 'x-ratelimit-reset': '2' },
    ],
    ['a Retry-After that is neither seconds nor a date', 429, { 'retry-after': 'soon' }],
  ])('none for %s', (_name, status, entries) => {
    expect(retryAfterMs(status, headers(entries as Record<string, string>), NOW)).toBeUndefined();
  });
});

describe('CrmHttp.call', () => {
  const answer = (status: number, body: unknown): CrmResponse => ({ status, headers: new Headers(), body });
  const http = () => {
    const client = new CrmHttp(
      'hubspot',
      (body) => (body as { message?: string }).message,
      { concurrency: 1 },
      fastRetries(),
    );
    client.keepSecret('pat-na1-secret');
    return client;
  };

  it('removes a known secret from a message the CRM echoes', async () => {
    const result = await http().call(async () => answer(400, { message: 'token pat-na1-secret is malformed' }));

    expect(result).toEqual({ ok: false, status: 400, attempts: 1, message: 'token [redacted] is malformed' });
  });

  it('shortens a long CRM message', async () => {
    const result = await http().call(async () => answer(422, { message: 'x'.repeat(5_000) }));

    expect(result.message).toHaveLength(300);
  });

  it('answers status 0 for an unexpected error, without retrying it', async () => {
    let calls = 0;
    const result = await http().call(async () => {
      calls += 1;
      throw new RangeError('a bug');
    });

    expect(result).toEqual({ ok: false, status: 0, attempts: 1, message: 'a bug' });
    expect(calls).toBe(1);
  });

  it('falls back to the HTTP status when the error body has no message (an HTML gateway page)', async () => {
    const result = await http().call(async () => answer(404, '<html>Not Found</html>'));

    expect(result).toEqual({ ok: false, status: 404, attempts: 1, message: 'HTTP 404' });
  });
});
