import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { dynamoDbCounters, ses, stepFunctions } from '../adapters/aws-clients.ts';
import type { CrmClients } from '../adapters/crm/index.ts';
import { ENV, jsonEnv, optionalEnv, requireEnv } from '../adapters/environment.ts';
import { InsightsStore } from '../adapters/insights-store.ts';
import { Mailer } from '../adapters/mailer.ts';
import { WorkflowClient } from '../adapters/workflow-client.ts';
import { type Services, servicesFromEnvironment } from './services.ts';

/**
 * What the side effects of committed decisions need besides the table: Step Functions, SES and the CRM clients. Only
 * the outbox and workflow functions (and the read API's health check) build these.
 */
export interface EffectServices extends Services {
  workflow: WorkflowClient;
  mailer: Mailer;
  /** The CRM clients whose credentials are set (write-back runs for those only); loaded per batch, cached. */
  crm: () => Promise<CrmClients>;
  /** The log for what the outbox cannot act on (e.g. a CRM refusing the credentials). */
  logger: Logger;
  /** The insights read model (the board's funnel and totals), fed by the insights projection. */
  insights: InsightsStore;
}

/** The effect services from the environment; `crm` is given by the caller (the clients' own environment variables). */
export function effectServicesFromEnvironment(
  observability: { logger: Logger; metrics: Metrics },
  crm: () => Promise<CrmClients> = async () => ({}),
): EffectServices {
  return {
    ...servicesFromEnvironment(observability),
    workflow: new WorkflowClient(stepFunctions(), jsonEnv(ENV.stateMachines)),
    mailer: new Mailer(ses(), requireEnv(ENV.mailFrom), optionalEnv(ENV.sesConfigurationSet)),
    crm,
    logger: observability.logger,
    insights: new InsightsStore(dynamoDbCounters(), requireEnv(ENV.tableName)),
  };
}
