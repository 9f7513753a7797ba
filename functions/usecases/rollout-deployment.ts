import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as z from 'zod';
import { rolloutPipeline } from './rollout.ts';
import type { Services } from './services.ts';

/** The custom resource's properties: which stored version of which pipeline goes live. */
export const RolloutResourceSchema = z.object({
  Pipeline: z.string().min(1).describe('the pipeline id'),
  Version: z.string().min(1).describe('the config version the deploy stored, which goes live'),
});

/** What the Provider framework reports to CloudFormation: one physical id per version, and how many deals moved. */
export interface RolloutResourceResult {
  PhysicalResourceId: string;
  Data?: { Moved: number; CancelledApprovals: number };
}

/**
 * Runs once per deployed version (the version is the resource's property, so an unchanged one triggers nothing):
 * moves the open deals to it, after listing the deals stored before the owner index existed in it. A failure (open deals in a removed, unmapped stage; anything else) fails the
 * deployment, which CloudFormation rolls back; the `RolloutFailed` metric and its alarm record it. A rerun, or the
 * rollback's update back to the earlier version, moves each deal at most once more, so nothing is migrated twice.
 */
export async function rolloutDeployedVersion(
  event: CloudFormationCustomResourceEvent,
  services: Services,
  observability: { logger: Logger; metrics: Metrics },
): Promise<RolloutResourceResult> {
  const { Pipeline, Version } = RolloutResourceSchema.parse(event.ResourceProperties);
  const PhysicalResourceId = `rollout/${Pipeline}/${Version}`;
  if (event.RequestType === 'Delete') return { PhysicalResourceId };
  try {
    // Deals stored before the owner index existed join it (a no-op once done).
    const listed = await services.deals.backfillOwnerIndex();
    if (listed > 0) observability.logger.info('stored deals listed in the owner index', { listed });
    const next = await services.pipelines.version(Pipeline, Version);
    const report = await rolloutPipeline(next, services);
    observability.metrics.addMetric('DealsMigrated', MetricUnit.Count, report.moved);
    observability.logger.info('config version live', { ...report });
    return { PhysicalResourceId, Data: { Moved: report.moved, CancelledApprovals: report.cancelledApprovals } };
  } catch (error) {
    observability.metrics.addMetric('RolloutFailed', MetricUnit.Count, 1);
    observability.logger.error('config rollout failed', { pipeline: Pipeline, version: Version, error });
    throw error;
  }
}
