import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * The Powertools Logger and Metrics of a function, built once per process and shared by its handler, use cases and
 * adapters. The function's name comes from `POWERTOOLS_SERVICE_NAME` (set per function by the `StageflowFunction`
 * construct; `stageflow-local` for the local stack, where every handler runs in one process and each log line names
 * its function). Every handler flushes the metrics once per invocation with `logMetrics(metrics)`.
 */

/** The function's structured log. */
export const logger = new Logger();

/**
 * The function's CloudWatch metrics (embedded metric format, namespace `Stageflow`). Its own notices go to the log at
 * error level only: most invocations (a page view, a stage wait) record no metric, which is not worth a warning.
 */
export const metrics = new Metrics({ namespace: 'Stageflow', logger: logger.createChild({ logLevel: 'ERROR' }) });
