import type { ApprovalTimer, WorkflowPosition, WorkflowRequest } from '../../workflows/definition.ts';
import { generationOfExecution } from '../adapters/workflow-client.ts';
import { type Approval, type Deal, type Decision, isEnded, pendingApprovals } from '../core/deal.ts';
import { expireApproval, rerouteDeal } from '../core/decide/entry-points.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import type { EffectServices } from './effect-services.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext } from './services.ts';
/** The inputs the generated state machine sends, as workflows/definition.ts builds them. */
export type WorkflowTask = WorkflowRequest;

/**
 * Pending approvals of the deal's current visit whose timers `executionId` does not run: those nobody runs yet
 * (`runBy` null) and, for a new execution after a restart, those an earlier execution ran. With `null`, only the
 * ones nobody runs.
 */
export function unrunApprovals(deal: Deal, executionId: string | null): Approval[] {
  return pendingApprovals(deal).filter((approval) =>
    executionId === null ? approval.runBy === null : approval.runBy !== executionId,
  );
}

/** The named error a task throws when its deal is gone; the state machine fails the execution with it. */
export class DealNotFoundError extends Error {
  constructor(pipeline: string, dealId: string) {
    super(`deal ${pipeline}/${dealId} does not exist`);
    this.name = 'DealNotFoundError';
  }
}

export async function runWorkflowTask(task: WorkflowTask, services: EffectServices): Promise<unknown> {
  switch (task.action) {
    case 'await':
      return retryOnConflict(() => awaitNextMove(task, services));
    case 'request-approval':
    case 'remind-approval':
      return holdApprovalRequest(task, services);
    case 'expire-approval':
      return retryOnConflict(() => expire(task, services));
    case 'closed':
      // The owner's closing email is the outbox's, sent when the closing move is committed.
      return undefined;
    case 'continue':
      return retryOnConflict(() => continueAsNew(task, services));
  }
}

async function load(pipeline: string, dealId: string, services: EffectServices) {
  const stored = await services.deals.getDeal(pipeline, dealId);
  if (!stored) throw new DealNotFoundError(pipeline, dealId);
  const versioned = await services.pipelines.version(pipeline, stored.deal.configVersion);
  return { stored, versioned };
}

/**
 * Where an execution of the deal runs from: its stage, and its version when nothing is left for the stage to run
 * (open, no pending approval of the visit), so that the stage task can park its token without reading the deal.
 */
export function positionOf(stored: StoredDeal): WorkflowPosition {
  const { deal } = stored;
  const position: WorkflowPosition = { pipeline: deal.pipeline, dealId: deal.dealId, stage: deal.stage };
  return isEnded(deal.status) || pendingApprovals(deal).length > 0
    ? position
    : { ...position, version: stored.version };
}

/**
 * A stage's waiting task. If the deal already left the stage, or has approval requests no execution runs yet, the
 * task answers itself at once so the state machine follows; otherwise it leaves its token on the deal for the next
 * recorded move (the outbox answers it). A position taken when the stage had nothing to run parks the token on that
 * version of the deal without a read; a deal changed since is read and decided as above. The owner's stage email is
 * the outbox's, sent when the move is committed.
 */
async function awaitNextMove(
  task: Extract<WorkflowTask, { action: 'await' }>,
  services: EffectServices,
): Promise<void> {
  const running = { executionArn: task.executionId, waitStage: task.stage };
  const seen = task.position;
  if (seen?.version !== undefined && seen.stage === task.stage) {
    const park = { ...running, waitToken: task.taskToken };
    if (await services.deals.updateWorkflowAt(task.pipeline, task.dealId, seen.version, park)) return;
  }
  const { stored } = await load(task.pipeline, task.dealId, services);
  const { deal } = stored;
  if (isEnded(deal.status)) {
    // The deal left its pipeline, was merged away or deleted: its execution ends here.
    await services.workflow.stop(task.executionId, `the deal ended: ${deal.status}`);
    return;
  }
  const generation = generationOfExecution(task.executionId);
  if (generation !== null && generation < stored.workflow.generation) {
    // A newer execution took the deal over (a restart, a migration) after this one was started: this one ends here.
    await services.workflow.stop(task.executionId, `replaced by generation ${stored.workflow.generation}`);
    return;
  }
  const toRun = unrunApprovals(deal, task.executionId);
  if (deal.stage !== task.stage || toRun.length > 0) {
    const now = services.clock();
    const claimed: Deal = {
      ...deal,
      approvals: deal.approvals.map((a) => (toRun.includes(a) ? { ...a, runBy: task.executionId } : a)),
    };
    await services.deals.updateWorkflow(stored, { ...running, waitToken: null }, claimed);
    const output: WorkflowPosition = {
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      stage: deal.stage,
      approvals: toRun.map((approval) => approvalTimers(approval, now)),
    };
    await services.workflow.complete(task.taskToken, output);
    return;
  }
  await services.deals.updateWorkflow(stored, { ...running, waitToken: task.taskToken });
}

/**
 * Seconds until the reminder, then from the reminder until expiry (at least 1: Step Functions needs a positive
 * timeout). A delegation that starts or ends first (`rerouteAt`) cuts the wait it falls in short: the task that wakes
 * then works out whom to ask again, and the deal's next execution runs the timers from there.
 */
export function approvalTimers(approval: Approval, now: Date): ApprovalTimer {
  const reroute = approval.rerouteAt ? Date.parse(approval.rerouteAt) : Number.POSITIVE_INFINITY;
  const remindAt = Math.min(Date.parse(approval.remindAt), reroute);
  const expiresAt = Math.min(Date.parse(approval.expiresAt), reroute > remindAt ? reroute : Number.POSITIVE_INFINITY);
  const start = Math.max(now.getTime(), remindAt);
  return {
    approvalId: approval.approvalId,
    reminderSeconds: Math.max(1, Math.ceil((remindAt - now.getTime()) / 1000)),
    expirySeconds: Math.max(1, Math.ceil((expiresAt - start) / 1000)),
  };
}

/**
 * Whether a timer that fired now is a routing change rather than the reminder or the expiry it stands for: the
 * approval asks for a new routing before that moment.
 */
function isRoutingChange(approval: Approval, dueAt: string, now: Date): boolean {
  return (
    approval.rerouteAt != null &&
    Date.parse(approval.rerouteAt) < Date.parse(dueAt) &&
    now.getTime() < Date.parse(dueAt)
  );
}

/**
 * The callback task of one approval request (first the wait for the reminder, then the wait for expiry). The task
 * only keeps its token on the approval item, so that the approver's decision releases it; the emails are the
 * outbox's: the request goes out when the decision that asked for it is committed, and the reminder when this task
 * records that it is due. No mail is sent here, so a mail outage can never fail the workflow.
 */
async function holdApprovalRequest(
  task: Extract<WorkflowTask, { action: 'request-approval' | 'remind-approval' }>,
  services: EffectServices,
): Promise<void> {
  const { stored } = await load(task.pipeline, task.dealId, services);
  const approval = stored.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval?.status !== 'pending') {
    await services.workflow.complete(task.taskToken, { status: approval?.status ?? 'unknown' });
    return;
  }
  const base = {
    approvalId: approval.approvalId,
    pipeline: stored.deal.pipeline,
    dealId: stored.deal.dealId,
    role: approval.role,
    expiresAt: approval.expiresAt,
  };
  await services.deals.attachTaskToken(base, task.taskToken);
  if (task.action === 'remind-approval' && isRoutingChange(approval, approval.remindAt, services.clock())) {
    await retryOnConflict(() => reroute(task, services));
  } else if (task.action === 'remind-approval') {
    const record = await services.deals.getApproval(task.approvalId);
    if (!record?.remindedAt) await retryOnConflict(() => recordReminderDue(task, services));
  }
  await releaseIfDecidedMeanwhile(task, services);
}

/** The reminder is due: a decision of kind `reminder` on the deal (which changes nothing else) has the outbox mail it. */
async function recordReminderDue(
  task: { pipeline: string; dealId: string; approvalId: string },
  services: EffectServices,
) {
  const { stored } = await load(task.pipeline, task.dealId, services);
  const approval = stored.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval?.status !== 'pending') return;
  const reminder: Decision = {
    outcome: 'applied',
    reasons: [],
    deal: stored.deal,
    history: [],
    requested: [],
    ended: [],
    moved: false,
  };
  await services.deals.commit({
    before: stored,
    decision: reminder,
    lastDecision: {
      kind: 'reminder',
      outcome: 'applied',
      reasons: [],
      eventId: null,
      source: 'workflow',
      at: services.clock().toISOString(),
      approvalId: task.approvalId,
    },
  });
}

/**
 * A delegation of the approval's role starts or ends: whom the deal's pending approvals ask is worked out again (as of
 * that moment, however late the timer fired). The outbox mails the people newly asked, tells those whose link no
 * longer decides, and replaces the execution so that its timers run from the new routing.
 */
async function reroute(task: { pipeline: string; dealId: string; approvalId: string }, services: EffectServices) {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  const approval = stored.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval?.status !== 'pending' || !approval.rerouteAt) return;
  const ctx = decisionContext(services, versioned.config);
  const at = new Date(Math.max(Date.parse(ctx.now), Date.parse(approval.rerouteAt))).toISOString();
  const decision = rerouteDeal(versioned, stored.deal, { ...ctx, now: at });
  if (decision.outcome === 'duplicate') return;
  await services.deals.commit({
    before: stored,
    decision,
    lastDecision: {
      kind: 'reroute',
      outcome: 'applied',
      reasons: [],
      eventId: null,
      source: 'workflow',
      at,
      approvalId: task.approvalId,
    },
  });
}

/** A decision that landed before this task's token was stored found no token to release: release it now. */
async function releaseIfDecidedMeanwhile(
  task: Extract<WorkflowTask, { taskToken: string; approvalId: string }>,
  services: EffectServices,
): Promise<void> {
  const current = await services.deals.getDeal(task.pipeline, task.dealId);
  const approval = current?.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (approval && approval.status !== 'pending') {
    await services.workflow.complete(task.taskToken, { status: approval.status });
  }
}

/** The approval ran out of time: mark it expired, cancelling a move that needed it (the outbox tells the owner). */
async function expire(
  task: Extract<WorkflowTask, { action: 'expire-approval' }>,
  services: EffectServices,
): Promise<void> {
  const { stored, versioned } = await load(task.pipeline, task.dealId, services);
  const pending = stored.deal.approvals.find((a) => a.approvalId === task.approvalId && a.status === 'pending');
  if (pending && isRoutingChange(pending, pending.expiresAt, services.clock())) return reroute(task, services);
  const ctx = decisionContext(services, versioned.config);
  const decision = expireApproval(versioned, stored.deal, task.approvalId, ctx);
  if (decision.outcome === 'duplicate' || !decision.deal) return;
  await services.deals.commit({
    before: stored,
    decision,
    lastDecision: {
      kind: 'expiry',
      outcome: decision.outcome,
      reasons: decision.reasons,
      eventId: null,
      source: 'workflow',
      at: ctx.now,
      approvalId: task.approvalId,
    },
  });
  const expired = decision.deal.approvals.find((a) => a.approvalId === task.approvalId);
  if (expired) services.telemetry.approvalEnded(decision.deal, expired);
}

/**
 * Hands a long-lived deal to a fresh execution (Standard executions end after a year): the next generation starts
 * at the deal's current stage and re-runs its pending approval timers.
 */
export async function continueAsNew(
  task: { pipeline: string; dealId: string },
  services: EffectServices,
): Promise<void> {
  const { stored } = await load(task.pipeline, task.dealId, services);
  const generation = stored.workflow.generation + 1;
  const after = await services.deals.updateWorkflow(stored, { generation, waitToken: null });
  await services.workflow.start(positionOf(after), generation);
}
