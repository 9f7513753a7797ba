import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Approval, EventResult, StageEvent } from '../core/deal.ts';
import type { EffectFailure } from './deals/effect-marks.ts';

const OUTCOME_METRICS: Record<EventResult['outcome'], string> = {
  applied: 'EventsApplied',
  pending_approval: 'MovesPendingApproval',
  rejected: 'MovesRejected',
  duplicate: 'EventsDuplicate',
  stale: 'EventsStale',
  ignored: 'EventsIgnored',
};

/**
 * The metric counting CRM stage values a managed pipeline's map lacks (an admin added a CRM stage and not its
 * mapping): an alarm watches it.
 */
export const UNMAPPED_CRM_STAGE_METRIC = 'UnmappedCrmStage';

/**
 * What operators see of the use cases: structured log lines keyed by deal and event id, and CloudWatch metrics
 * (embedded metric format) for outcomes, CRM write-backs and approval latency. The handler flushes the metrics at the
 * end of each invocation (`logMetrics`).
 */
export class Telemetry {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  eventRecorded(event: StageEvent, result: EventResult): void {
    this.metrics.addMetric(OUTCOME_METRICS[result.outcome], MetricUnit.Count, 1);
    this.logger.info('event recorded', {
      source: event.source,
      eventId: event.eventId,
      pipeline: event.pipeline,
      dealId: event.dealId,
      requestedStage: event.stage,
      outcome: result.outcome,
      stage: result.stage,
      reasons: result.reasons.map((reason) => reason.code),
    });
    const unmapped = result.reasons.find((reason) => reason.code === 'UNKNOWN_STAGE');
    if (unmapped && event.source !== 'generic') {
      this.metrics.addMetric(UNMAPPED_CRM_STAGE_METRIC, MetricUnit.Count, 1);
      this.logger.error('a CRM stage is missing from the stage map: map it in the stage config', {
        source: event.source,
        pipeline: event.pipeline,
        dealId: event.dealId,
        crmStage: unmapped.stage,
      });
    }
  }

  /**
   * A CRM write-back's result: `CrmSyncSucceeded` / `CrmSyncFailed`, and `CrmAuthFailed` for a 401. The CRM's reason
   * is logged as `reason`; a 403 (a scope or permission the credentials lack) is an error whose line says which.
   */
  crmSynced(deal: { pipeline: string; dealId: string }, crm: string, ok: boolean, status: number, reason?: string) {
    this.metrics.addMetric(ok ? 'CrmSyncSucceeded' : 'CrmSyncFailed', MetricUnit.Count, 1);
    if (status === 401) this.metrics.addMetric('CrmAuthFailed', MetricUnit.Count, 1);
    // Not `message`: Powertools reserves that key for the log line's own text and drops an extra one.
    const line = { pipeline: deal.pipeline, dealId: deal.dealId, crm, status, reason };
    if (status === 401) this.logger.error('CRM refused the write-back credentials: set them again', line);
    else if (status === 403) this.logger.error(`CRM refused the write-back: ${reason ?? 'permission denied'}`, line);
    else if (ok) this.logger.info('CRM write-back synced', line);
    else this.logger.warn('CRM write-back failed', line);
  }

  /** A CRM call about to be retried (429, 5xx, network): `CrmSyncRetried`. */
  crmRetried(crm: string, status: number, attempt: number): void {
    this.metrics.addMetric('CrmSyncRetried', MetricUnit.Count, 1);
    this.logger.info('CRM write-back retried', { crm, status, attempt });
  }

  /** A side effect given up for a reason retrying cannot fix: `OutboxEffectFailed` (alarmed), logged as an error. */
  effectGivenUp(failure: EffectFailure): void {
    this.metrics.addMetric('OutboxEffectFailed', MetricUnit.Count, 1);
    this.logger.error('a side effect was given up: retrying cannot fix it (see the dead-letter item)', { ...failure });
  }

  approvalEnded(deal: { pipeline: string; dealId: string }, approval: Approval): void {
    if (approval.decidedAt && (approval.status === 'approved' || approval.status === 'rejected')) {
      const seconds = (Date.parse(approval.decidedAt) - Date.parse(approval.requestedAt)) / 1000;
      this.metrics.addMetric('ApprovalLatency', MetricUnit.Seconds, seconds);
    }
    this.metrics.addMetric(
      approval.status === 'expired' ? 'ApprovalsExpired' : 'ApprovalsDecided',
      MetricUnit.Count,
      1,
    );
    this.logger.info('approval ended', {
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      approvalId: approval.approvalId,
      role: approval.role,
      status: approval.status,
    });
  }
}
