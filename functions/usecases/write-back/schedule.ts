/**
 * When a write-back that failed retryably is tried again, and when it is given up. A wait the CRM asks for
 * (`Retry-After`, Pipedrive's `x-ratelimit-reset`) is honoured however long it is and never counts as giving up;
 * otherwise the tries back off exponentially (with jitter) and end once the budget has passed since the first failure.
 */
export interface RetrySchedule {
  /** How long a write-back keeps being retried after its first failure: at least 15 minutes. */
  budgetMs: number;
  /** The first backoff; it doubles per try. */
  minDelayMs: number;
  /** The longest backoff between two tries. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_SCHEDULE: RetrySchedule = {
  budgetMs: 15 * 60_000,
  minDelayMs: 2_000,
  maxDelayMs: 60_000,
};

/** The next try's time (epoch ms) after a retryable failure, or null when the write-back is given up. */
export function nextTryAt(
  schedule: RetrySchedule,
  failure: { tries: number; firstFailedAtMs: number; retryAfterMs?: number },
  nowMs: number,
  random: () => number = Math.random,
): number | null {
  if (failure.retryAfterMs !== undefined) return nowMs + Math.max(failure.retryAfterMs, schedule.minDelayMs);
  if (nowMs - failure.firstFailedAtMs >= schedule.budgetMs) return null;
  const backoff = Math.min(schedule.maxDelayMs, schedule.minDelayMs * 2 ** Math.max(0, failure.tries - 1));
  return nowMs + Math.round(backoff * (0.5 + random() / 2));
}
