import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { dynamoDb } from '../../adapters/aws-clients.ts';
import { type CrmClients, type CrmClientsOptions, crmClientsFromEnvironment } from '../../adapters/crm/index.ts';
import { DealRepository } from '../../adapters/deal-repository.ts';
import { ENV, requireEnv } from '../../adapters/environment.ts';
import { Telemetry } from '../../adapters/telemetry.ts';
import type { WriteBackServices } from './runs.ts';

let crmOptions: CrmClientsOptions | undefined;

/**
 * The CRM clients whose credentials are set, built once per process for every handler in it (the outbox asks which
 * CRMs are connected; the write-back runs call them), so their request caps and the Salesforce session are shared.
 */
export function crmClientsOf(observability: { logger: Logger; metrics: Metrics }): () => Promise<CrmClients> {
  const { logger } = observability;
  const telemetry = new Telemetry(logger, observability.metrics);
  crmOptions ??= {
    onRetry: (notice) => telemetry.crmRetried(notice.source, notice.status, notice.attempt),
    onIncomplete: (source, problem) => logger.warn('CRM write-back not configured completely', { source, problem }),
  };
  const options = crmOptions;
  return () => crmClientsFromEnvironment(options);
}

/** The write-back runs' services from the environment: the table, and the CRM clients whose credentials are set. */
export function writeBackServicesFromEnvironment(observability: {
  logger: Logger;
  metrics: Metrics;
}): WriteBackServices {
  const { logger, metrics } = observability;
  return {
    deals: new DealRepository(dynamoDb(), requireEnv(ENV.tableName)),
    crm: crmClientsOf(observability),
    telemetry: new Telemetry(logger, metrics),
    logger,
    clock: () => new Date(),
  };
}
