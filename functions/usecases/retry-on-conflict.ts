import pRetry from 'p-retry';
import { ConcurrentUpdateError } from '../core/errors.ts';

/**
 * Runs a read → decide → write step again, with a short jittered pause, each time it lost the optimistic-lock race
 * to a concurrent writer of the same deal; any other error ends it at once. Thirty concurrent events for one deal
 * resolve within a few dozen rounds, so the bound is generous.
 */
export function retryOnConflict<T>(step: () => Promise<T>): Promise<T> {
  return pRetry(step, {
    retries: 200,
    minTimeout: 2,
    maxTimeout: 50,
    factor: 1.3,
    randomize: true,
    shouldRetry: ({ error }) => error instanceof ConcurrentUpdateError,
  });
}
