import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { dynamoDb } from '../../adapters/aws-clients.ts';
import { type CrmClientsOptions, crmClientsFromEnvironment } from '../../adapters/crm/index.ts';
import { DealRepository } from '../../adapters/deal-repository.ts';
import { ENV, requireEnv } from '../../adapters/environment.ts';
import { Telemetry } from '../../adapters/telemetry.ts';
import type { WriteBackServices } from './runs.ts';

/**
 * The write-back runs' services from the environment: the table, and the CRM clients whose credentials are set
 * (loaded per sweep, cached: the same clients while the settings stay, so their request caps and the Salesforce
 * session span sweeps).
 */
export function writeBackServicesFromEnvironment(observability: {
  logger: Logger;
  metrics: Metrics;
}): WriteBackServices {
  const { logger, metrics } = observability;
  const telemetry = new Telemetry(logger, metrics);
  const crmOptions: CrmClientsOptions = {
    onRetry: (notice) => telemetry.crmRetried(notice.source, notice.status, notice.attempt),
    onIncomplete: (source, problem) => logger.warn('CRM write-back not configured completely', { source, problem }),
  };
  return {
    deals: new DealRepository(dynamoDb(), requireEnv(ENV.tableName)),
    crm: () => crmClientsFromEnvironment(crmOptions),
    telemetry,
    logger,
    clock: () => new Date(),
  };
}
