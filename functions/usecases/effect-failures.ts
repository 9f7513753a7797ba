import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  isClockSkewCorrectedError,
  isRetryableByTrait,
  isServerError,
  isThrottlingError,
  isTransientError,
} from '@smithy/core/retry';
import type { SdkError } from '@smithy/types';
import type { EffectFailure } from '../adapters/deals/effect-marks.ts';
import type { EffectServices } from './effect-services.ts';

/**
 * Errors a retry resolves, by name: a service saying it is unavailable (whatever its status), and errors of our own —
 * a lost optimistic-lock race, a call that timed out or was aborted, a CRM that did not answer, a later change of a
 * deal waiting for its earlier one, a mail log that could not be read, and a run that lost (or has not yet got) the
 * lease on a decision's effects.
 */
const RETRYABLE_NAMES: ReadonlySet<string> = new Set([
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'ConcurrentUpdateError',
  'TimeoutError',
  'AbortError',
  'CrmNetworkError',
  'EarlierChangeFailedError',
  'LeaseLostError',
  'EffectRunInProgressError',
  'MailLogUnavailableError',
]);

/** Transaction cancellation reasons that pass by themselves. */
const PASSING_CANCELLATIONS: ReadonlySet<string> = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * Whether retrying can fix a side effect's failure: throttling, a network error or timeout, a service's `5xx`, a
 * transaction conflict, a lost race (as the AWS SDK classifies its own errors). Anything else — a service refusing the
 * request (`4xx`: a value it cannot store, an address it rejects) or an error of the code itself (a number that cannot
 * be marshalled, a stage missing from the config) — fails the same way every time.
 */
export function isRetryable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  if (RETRYABLE_NAMES.has(error.name)) return true;
  const sdkError = error as SdkError;
  if (
    isThrottlingError(sdkError) ||
    isTransientError(sdkError) ||
    isServerError(sdkError) ||
    isRetryableByTrait(sdkError) ||
    isClockSkewCorrectedError(sdkError)
  ) {
    return true;
  }
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some((reason) => PASSING_CANCELLATIONS.has(reason.Code ?? ''));
  }
  if (error instanceof AggregateError) return error.errors.some((inner) => isRetryable(inner, depth + 1));
  return isRetryable(error.cause, depth + 1);
}

/** The error as the dead-letter item and the history say it: name and message, at most 1,000 characters. */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}

/**
 * Gives up a side effect that retrying cannot fix: records it (dead-letter item, the deal's history, the metric and
 * an error log line) so the outbox can move on to the next effect and record.
 */
export async function giveUpEffect(
  services: Pick<EffectServices, 'deals' | 'telemetry' | 'clock'>,
  failure: Omit<EffectFailure, 'at' | 'reason'>,
  error: unknown,
): Promise<void> {
  const recorded: EffectFailure = { ...failure, reason: describeError(error), at: services.clock().toISOString() };
  const first = await services.deals.recordEffectFailure(recorded);
  if (first) services.telemetry.effectGivenUp(recorded);
}

/**
 * Runs one side effect: a failure retrying can fix is thrown (the record is retried), any other is given up and
 * recorded, and the outbox goes on.
 */
export async function runOrGiveUp(
  services: Pick<EffectServices, 'deals' | 'telemetry' | 'clock'>,
  failure: Omit<EffectFailure, 'at' | 'reason'>,
  effect: () => Promise<void>,
): Promise<'done' | 'given_up'> {
  try {
    await effect();
    return 'done';
  } catch (error) {
    if (isRetryable(error)) throw error;
    await giveUpEffect(services, failure, error);
    return 'given_up';
  }
}
