import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { dynamoDb, dynamoDbCounters, ses, stepFunctions } from '../adapters/aws-clients.ts';
import { ENV, jsonEnv, optionalEnv, requireEnv } from '../adapters/environment.ts';
import { InsightsStore } from '../adapters/insights-store.ts';
import { LocalMailLog, type MailLog, TableMailLog } from '../adapters/mail-log.ts';
import { Mailer } from '../adapters/mailer.ts';
import { WorkflowClient } from '../adapters/workflow-client.ts';
import { type Services, servicesFromEnvironment } from './services.ts';

/**
 * What the side effects of committed decisions need besides the table: Step Functions and SES (CRM write-backs are
 * only enqueued; their runs have services of their own, `write-back/services.ts`). Only
 * the outbox and workflow functions (and the read API's health check) build these.
 */
export interface EffectServices extends Services {
  workflow: WorkflowClient;
  mailer: Mailer;
  /** What the mail service accepted, by email identity: asked before a re-run sends an email again. */
  mailLog: MailLog;
  /** The log for what the outbox cannot act on (e.g. a CRM refusing the credentials). */
  logger: Logger;
  /** The insights read model (the board's funnel and totals), fed by the insights projection. */
  insights: InsightsStore;
}

/** What the read API reads besides the table: the insights totals and, for its health check, the workflows. */
export type ReadServices = Services & Pick<EffectServices, 'workflow' | 'insights'>;

/** The effect services from the environment. */
export function effectServicesFromEnvironment(observability: { logger: Logger; metrics: Metrics }): EffectServices {
  return {
    ...readServicesFromEnvironment(observability),
    mailer: new Mailer(ses(), requireEnv(ENV.mailFrom), optionalEnv(ENV.sesConfigurationSet)),
    mailLog: mailLogFromEnvironment(),
    logger: observability.logger,
  };
}

/** The read API's services from the environment: no mail client, which it never uses (a smaller bundle). */
export function readServicesFromEnvironment(observability: { logger: Logger; metrics: Metrics }): ReadServices {
  return {
    ...servicesFromEnvironment(observability),
    workflow: new WorkflowClient(stepFunctions(), jsonEnv(ENV.stateMachines)),
    insights: new InsightsStore(dynamoDbCounters(), requireEnv(ENV.tableName)),
  };
}

/** Locally the local mail service's own store; in the cloud the table's items written from SES sending events. */
function mailLogFromEnvironment(): MailLog {
  const localMailService = optionalEnv(ENV.sesEndpoint);
  if (localMailService) return new LocalMailLog(localMailService);
  return new TableMailLog({ db: dynamoDb(), tableName: requireEnv(ENV.tableName) });
}
