import type { ApprovalTimer, WorkflowPosition, WorkflowRequest } from '../../workflows/definition.ts';
import type { ApprovalRecord, StoredDeal } from '../adapters/deal-repository.ts';
import { loadSecrets } from '../adapters/secrets.ts';
import { hashApprovalToken, newApprovalToken } from '../core/approval-token.ts';
import type { Approval, Deal } from '../core/deal.ts';
import { expireApproval, openExitCriteria } from '../core/decide.ts';
import {
  approvalExpiredEmail,
  approvalRequestEmail,
  dealClosedEmail,
  ownerApprovalsRequestedEmail,
  stageEntryEmail,
} from '../core/emails.ts';
import type { StageConfig, VersionedPipeline } from '../core/pipeline-config.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';
import { syncWorkflow, unrunApprovals } from './sync-workflow.ts';

/** The inputs the generated state machine sends, as workflows/definition.ts builds them. */
export type WorkflowTask = WorkflowRequest;

/** The named error a task throws when its deal is gone; the state machine fails the execution with it. */
export class DealNotFoundError extends Error {
  constructor(pipeline: string, dealId: string) {
    super(`deal ${pipeline}/${dealId} does not exist`);
    this.name = 'DealNotFoundError';
  }
}

export async function runWorkflowTask(task: WorkflowTask, services: Services): Promise<unknown> {
  switch (task.action) {
    case 'await':
      return retryOnConflict(() => awaitNextMove(task, services));
    case 'request-approval':
    case 'remind-approval':
      return sendApprovalRequest(task, services);
    case 'expire-approval':
      return retryOnConflict(() => expire(task, services));
    case 'closed':
      return notifyClosed(task, services);
    case 'continue':
      return retryOnConflict(() => continueAsNew(task, services));
  }
}

async function load(pipeline: string, dealId: string, services: Services) {
  const stored = await services.deals.getDeal(pipeline, dealId);
  if (!stored) throw new DealNotFoundError(pipeline, dealId);
  const versioned = await services.pipelines.version(pipeline, stored.deal.configVersion);
  return { stored, versioned };
}

function stageOf(versioned: VersionedPipeline, key: string): StageConfig {
  const stage = versioned.config.stages.find((s) => s.key === key);
  if (!stage) throw new Error(`stage '${key}' is not in pipeline ${versioned.config.pipeline}@${versioned.version}`);
  return stage;
}

/**
 * A stage's waiting task. If the deal already left the stage, or has approval requests no execution runs yet, the
 * task answers itself at once so the state machine follows; otherwise it leaves its token on the deal for the next
 * recorded move, and tells the owner the stage's guidance on the first wait of each visit.
 */
async function awaitNextMove(task: Extract<WorkflowTask, { action: 'await' }>, services: Services): Promise<void> {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  const { deal } = stored;
  const toRun = unrunApprovals(deal, task.executionId);
  if (deal.stage !== task.stage || toRun.length > 0) {
    const now = services.clock();
    const claimed: Deal = {
      ...deal,
      approvals: deal.approvals.map((a) => (toRun.includes(a) ? { ...a, runBy: task.executionId } : a)),
    };
    await services.deals.updateWorkflow(stored, { waitToken: null, waitStage: task.stage }, claimed);
    const output: WorkflowPosition = {
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      stage: deal.stage,
      approvals: toRun.map((approval) => approvalTimers(approval, now)),
    };
    await services.workflow.complete(task.taskToken, output);
    return;
  }
  const firstWaitOfVisit = stored.workflow.notifiedVisit < deal.visit;
  await services.deals.updateWorkflow(stored, {
    waitToken: task.taskToken,
    waitStage: task.stage,
    notifiedVisit: deal.visit,
  });
  if (firstWaitOfVisit && versioned.config.rules.notifyOwnerOnStageEntry && deal.owner?.email) {
    const stage = stageOf(versioned, deal.stage);
    await services.mailer.send(stageEntryEmail({ deal, stage, openCriteria: openExitCriteria(stage, deal.fields) }));
  }
}

/** Seconds until the reminder, then from the reminder until expiry (at least 1: Step Functions needs a positive timeout). */
function approvalTimers(approval: Approval, now: Date): ApprovalTimer {
  const remindAt = Date.parse(approval.remindAt);
  const expiresAt = Date.parse(approval.expiresAt);
  const start = Math.max(now.getTime(), remindAt);
  return {
    approvalId: approval.approvalId,
    reminderSeconds: Math.max(1, Math.ceil((remindAt - now.getTime()) / 1000)),
    expirySeconds: Math.max(1, Math.ceil((expiresAt - start) / 1000)),
  };
}

/**
 * The callback task of one approval request (first ask, then the reminder). The first run mails the approver a fresh
 * review link and tells the owner; a repeated run (a retried task, a restarted execution) only re-attaches the task
 * token, so an approver is never asked twice for the same request and links already sent keep working.
 */
async function sendApprovalRequest(
  task: Extract<WorkflowTask, { action: 'request-approval' | 'remind-approval' }>,
  services: Services,
): Promise<void> {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  const approval = stored.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval?.status !== 'pending') {
    await services.workflow.complete(task.taskToken, { status: approval?.status ?? 'unknown' });
    return;
  }
  const reminder = task.action === 'remind-approval';
  const existing = await services.deals.getApproval(task.approvalId);
  const alreadySent = reminder ? existing?.remindedAt : existing?.emailedAt;
  const record: ApprovalRecord = existing ?? {
    approvalId: approval.approvalId,
    pipeline: stored.deal.pipeline,
    dealId: stored.deal.dealId,
    role: approval.role,
    tokenHashes: [],
    taskToken: null,
    emailedAt: null,
    remindedAt: null,
    expiresAt: approval.expiresAt,
  };
  if (alreadySent) {
    await services.deals.putApproval({ ...record, taskToken: task.taskToken });
  } else {
    const { LINK_SIGNING_KEY } = await loadSecrets();
    const token = newApprovalToken();
    const sentAt = services.clock().toISOString();
    const sent: ApprovalRecord = {
      ...record,
      taskToken: task.taskToken,
      tokenHashes: [...record.tokenHashes, hashApprovalToken(token, LINK_SIGNING_KEY)],
      ...(reminder ? { remindedAt: sentAt } : { emailedAt: sentAt }),
    };
    await services.deals.putApproval(sent);
    await mailApprover(stored, versioned, approval, token, reminder, services);
  }
  await releaseIfDecidedMeanwhile(task, services);
}

async function mailApprover(
  stored: StoredDeal,
  versioned: VersionedPipeline,
  approval: Approval,
  token: string,
  reminder: boolean,
  services: Services,
): Promise<void> {
  const { deal } = stored;
  const stage = stageOf(versioned, approval.stage);
  const approver = versioned.config.approvers[approval.role];
  if (!approver) throw new Error(`approver role '${approval.role}' has no address in the pipeline config`);
  const link = `${services.publicBaseUrl}/approvals/${encodeURIComponent(approval.approvalId)}?token=${token}`;
  await services.mailer.send(approvalRequestEmail({ deal, stage, approval, approver, link, reminder }));
  if (!reminder && deal.owner?.email) {
    await services.mailer.send(
      ownerApprovalsRequestedEmail({ deal, stage, approvals: [approval], approvers: versioned.config.approvers }),
    );
  }
}

/** A decision that landed before this task's token was stored found no token to release: release it now. */
async function releaseIfDecidedMeanwhile(
  task: Extract<WorkflowTask, { taskToken: string; approvalId: string }>,
  services: Services,
): Promise<void> {
  const current = await services.deals.getDeal(task.pipeline, task.dealId);
  const approval = current?.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval && approval.status !== 'pending') {
    await services.workflow.complete(task.taskToken, { status: approval.status });
  }
}

/** The approval ran out of time: mark it expired (cancelling a move that needed it) and tell the owner. */
async function expire(task: Extract<WorkflowTask, { action: 'expire-approval' }>, services: Services): Promise<void> {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  const decision = expireApproval(versioned, stored.deal, task.approvalId, decisionContext(services, versioned.config));
  if (decision.outcome === 'duplicate' || !decision.deal) return;
  const after = await services.deals.commit({ before: stored, decision });
  const expired = decision.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (expired) services.telemetry.approvalEnded(decision.deal, expired);
  if (expired && decision.deal.owner?.email) {
    await services.mailer.send(approvalExpiredEmail({ deal: decision.deal, approval: expired }));
  }
  if (after) await syncWorkflow(after, [], services);
}

async function notifyClosed(task: Extract<WorkflowTask, { action: 'closed' }>, services: Services): Promise<void> {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  if (stored.deal.owner?.email) {
    await services.mailer.send(dealClosedEmail({ deal: stored.deal, stage: stageOf(versioned, task.stage) }));
  }
}

/**
 * Hands a long-lived deal to a fresh execution (Standard executions end after a year): the next generation starts
 * at the deal's current stage and re-runs its pending approval timers.
 */
export async function continueAsNew(task: { pipeline: string; dealId: string }, services: Services): Promise<void> {
  const { stored } = await load(task.pipeline, task.dealId, services);
  const generation = stored.workflow.generation + 1;
  const after = await services.deals.updateWorkflow(stored, { generation, waitToken: null });
  await services.workflow.start({
    pipeline: after.deal.pipeline,
    dealId: after.deal.dealId,
    stage: after.deal.stage,
    generation,
  });
}
