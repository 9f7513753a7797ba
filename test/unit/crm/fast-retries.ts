import type { CrmClientOptions, RetryNotice } from '../../../functions/adapters/crm/http.ts';

/** Production retry rules on a test's clock: backoff in tens of milliseconds, a budget of seconds. */
export function fastRetries(overrides: CrmClientOptions = {}): CrmClientOptions & { notices: RetryNotice[] } {
  const notices: RetryNotice[] = [];
  return {
    ...overrides,
    retry: { budgetMs: 10_000, minDelayMs: 20, maxDelayMs: 100, requestTimeoutMs: 2_000, ...overrides.retry },
    onRetry: (notice) => notices.push(notice),
    notices,
  };
}

/** Milliseconds between consecutive requests' arrival. */
export function gaps(times: number[]): number[] {
  return times.slice(1).map((time, index) => time - (times[index] as number));
}
