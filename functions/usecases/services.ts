import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { dynamoDb } from '../adapters/aws-clients.ts';
import { DealRepository } from '../adapters/deal-repository.ts';
import { ENV, jsonEnv, optionalEnv, requireEnv } from '../adapters/environment.ts';
import { PipelineCatalog } from '../adapters/pipeline-catalog.ts';
import { Telemetry } from '../adapters/telemetry.ts';
import type { ApprovalTiming, DecisionContext } from '../core/deal.ts';
import type { PipelineConfig } from '../core/pipeline-config.ts';

/**
 * What the answer paths (webhooks, approval pages, read API) need: the table and the stored configs, nothing else.
 * Step Functions, SES and the CRMs are the outbox's (`effect-services.ts`), so these functions load none of them.
 */
export interface Services {
  deals: DealRepository;
  pipelines: PipelineCatalog;
  telemetry: Telemetry;
  publicBaseUrl: string;
  clock: () => Date;
}

/** The services from the environment (the same variables locally and in the cloud), observed by the handler's own logger and metrics. */
export function servicesFromEnvironment(observability: { logger: Logger; metrics: Metrics }): Services {
  const deals = new DealRepository(dynamoDb(), requireEnv(ENV.tableName));
  return {
    deals,
    pipelines: new PipelineCatalog(deals, jsonEnv(ENV.pipelines)),
    telemetry: new Telemetry(observability.logger, observability.metrics),
    publicBaseUrl: requireEnv(ENV.publicBaseUrl).replace(/\/+$/, ''),
    clock: () => new Date(),
  };
}

/** The approval timing for new requests: the pipeline's own, unless overridden (to watch reminders locally in seconds). */
export function approvalTiming(config: PipelineConfig): ApprovalTiming {
  const override = (name: string) => {
    const value = Number(optionalEnv(name));
    return Number.isFinite(value) && value > 0 ? value : undefined;
  };
  return {
    reminderSeconds: override(ENV.approvalReminderSeconds) ?? config.approvalTiming.reminderAfterHours * 3600,
    expirySeconds: override(ENV.approvalExpirySeconds) ?? config.approvalTiming.expireAfterHours * 3600,
  };
}

export function decisionContext(services: Services, config: PipelineConfig): DecisionContext {
  return { now: services.clock().toISOString(), newApprovalId: randomUUID, timing: approvalTiming(config) };
}
