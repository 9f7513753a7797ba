import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCallDeadline } from '../../../functions/adapters/crm/http.ts';
import { PipedriveClient } from '../../../functions/adapters/crm/pipedrive.ts';
import { DEFAULT_RETRY_SCHEDULE, nextTryAt } from '../../../functions/usecases/write-back/schedule.ts';
import { fastRetries } from './fast-retries.ts';

/** A server that records what reached it and answers with `answer`. */
function server(answer: (path: string) => { status: number; headers?: Record<string, string> } | null) {
  const received: { path: string; token: string | undefined }[] = [];
  const http: Server = createServer((req, res) => {
    received.push({ path: req.url ?? '', token: req.headers['x-api-token'] as string | undefined });
    const answered = answer(req.url ?? '');
    if (answered) res.writeHead(answered.status, answered.headers).end('{"success":true,"data":{}}');
  });
  return {
    received,
    url: () => `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    start: () => new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)),
    stop: () => {
      http.closeAllConnections();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe('a redirect from the CRM', () => {
  const elsewhere = server(() => ({ status: 200 }));
  const crm = server((path) => ({ status: 307, headers: { location: `${elsewhere.url()}${path}` } }));
  beforeAll(async () => {
    await Promise.all([elsewhere.start(), crm.start()]);
  });
  afterAll(async () => {
    await Promise.all([elsewhere.stop(), crm.stop()]);
  });

  it('is not followed: the token stays with the CRM, and the write fails for good, naming where it pointed', async () => {
    const client = new PipedriveClient({ apiToken: 'secret-token', baseUrl: crm.url() }, fastRetries());
    const result = await client.setStage('42', { field: 'stage_id', value: 2 });
    expect(result).toMatchObject({ ok: false, status: 307, attempts: 1 });
    expect(result.retryable).toBeUndefined();
    expect(result.message).toContain(elsewhere.url());
    expect(elsewhere.received).toEqual([]);
    expect(crm.received).toHaveLength(1);
  });
});

describe("a call within a run's deadline", () => {
  const hanging = server(() => null);
  beforeAll(() => hanging.start());
  afterAll(() => hanging.stop());

  it('is cut off when the run ends, and reported as worth another try', async () => {
    const client = new PipedriveClient(
      { apiToken: 't', baseUrl: hanging.url() },
      fastRetries({ retry: { requestTimeoutMs: 60_000, budgetMs: 60_000 } }),
    );
    const ended = new AbortController();
    const call = withCallDeadline(ended.signal, () => client.setStage('42', { field: 'stage_id', value: 2 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    ended.abort();
    expect(await call).toMatchObject({ ok: false, status: 0, retryable: true });
  });
});

describe('the retry schedule', () => {
  const at = Date.parse('2026-12-03T10:00:00Z');
  it('waits what the CRM asks, however long, even past the budget', () => {
    const failure = { tries: 40, firstFailedAtMs: at - 3 * 3_600_000, retryAfterMs: 3_600_000 };
    expect(nextTryAt(DEFAULT_RETRY_SCHEDULE, failure, at)).toBe(at + 3_600_000);
  });

  it('backs off exponentially up to the longest pause, then gives up once the budget has passed', () => {
    const first = { tries: 1, firstFailedAtMs: at };
    expect(nextTryAt(DEFAULT_RETRY_SCHEDULE, first, at, () => 1)).toBe(at + DEFAULT_RETRY_SCHEDULE.minDelayMs);
    expect(nextTryAt(DEFAULT_RETRY_SCHEDULE, { tries: 30, firstFailedAtMs: at }, at, () => 1)).toBe(
      at + DEFAULT_RETRY_SCHEDULE.maxDelayMs,
    );
    const spent = { tries: 20, firstFailedAtMs: at - DEFAULT_RETRY_SCHEDULE.budgetMs };
    expect(nextTryAt(DEFAULT_RETRY_SCHEDULE, spent, at)).toBeNull();
  });
});
