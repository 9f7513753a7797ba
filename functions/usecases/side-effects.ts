import type { WorkflowPosition } from '../../workflows/definition.ts';
import { type ApprovalBase, decisionOf, type LastDecision, type StoredDeal } from '../adapters/deal-repository.ts';
import { loadSecrets } from '../adapters/secrets.ts';
import { hashApprovalToken, newApprovalToken } from '../core/approval-token.ts';
import { openExitCriteria } from '../core/criteria.ts';
import type { Approval } from '../core/deal.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';
import { requireStage } from '../core/stages.ts';
import {
  approvalCancelledEmail,
  approvalDecidedEmail,
  approvalExpiredEmail,
  approvalRequestEmail,
  dealClosedEmail,
  moveRefusedEmail,
  ownerApprovalsCancelledEmail,
  ownerApprovalsRequestedEmail,
  stageEntryEmail,
} from '../views/emails.ts';
import { writeBackToCrm } from './crm-write-back.ts';
import type { DealChange } from './deal-change.ts';
import type { EffectServices } from './effect-services.ts';
import { projectInsights } from './insights-projection.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { unrunApprovals } from './workflow-tasks.ts';

/** A read model fed by every committed deal change; it must be idempotent per (deal, version) itself. */
export type Projection = (change: DealChange, services: EffectServices) => Promise<void>;

/**
 * The read models every deal change is projected into (PLAN seam 3: the insights projection is registered here).
 * Projections see every change, workflow-only writes included; side effects below only see decisions.
 */
export const PROJECTIONS: Projection[] = [
  async (change, services) => {
    await projectInsights(change, services);
  },
];

/** One decision's side effects, with the marks of those already done. */
interface EffectRun {
  change: DealChange;
  decided: LastDecision;
  pipeline: VersionedPipeline;
  services: EffectServices;
  /** Runs `effect` unless an earlier attempt at this decision did, then marks it done. */
  once(effect: string, run: () => Promise<void>): Promise<void>;
  /**
   * Marks that `effect` begins, for an effect whose write cannot be repeated blindly; true when an earlier attempt
   * began it and never marked it done, so it may have been written already.
   */
  begin(effect: string): Promise<boolean>;
}

/**
 * The outbox: everything a committed decision causes outside the table, derived from the stream record's old and new
 * deal image alone (`lastDecision` says what was decided). Runs after the commit, never on an answer path, and may run
 * more than once for one record (a retried batch, a restarted local stack): each effect is marked done per decision
 * once it succeeded, and the workflow calls are idempotent by themselves (execution names, spent task tokens count as
 * done). A failure throws, so the record is retried, in order, until it succeeds.
 */
export async function applySideEffects(change: DealChange, services: EffectServices): Promise<void> {
  for (const project of PROJECTIONS) await project(change, services);
  const decided = decisionOf(change.before, change.after);
  if (!decided || !hasEffects(change, decided)) return;
  const { deal } = change.after;
  const done = await services.deals.doneEffects(deal.pipeline, deal.dealId, decided.version);
  const mark = async (effect: string) => {
    await services.deals.markEffectDone(
      deal.pipeline,
      deal.dealId,
      decided.version,
      effect,
      services.clock().toISOString(),
    );
    done.add(effect);
  };
  const run: EffectRun = {
    change,
    decided,
    pipeline: await services.pipelines.version(deal.pipeline, deal.configVersion),
    services,
    once: async (effect, effectRun) => {
      if (done.has(effect)) return;
      await effectRun();
      await mark(effect);
    },
    begin: async (effect) => {
      const begun = `${effect}:begun`;
      if (done.has(begun)) return true;
      await mark(begun);
      return false;
    },
  };
  await handOffToWorkflow(run);
  await notifyApprovers(run);
  await notifyOwner(run);
  await writeBackToCrm(run);
}

export type { EffectRun };

/**
 * Whether a decision can have any effect at all, judged from the record alone: most decisions are field updates,
 * which need nothing, and are passed over without a read.
 */
function hasEffects(change: DealChange, decided: LastDecision): boolean {
  return (
    change.before === null ||
    enteredStage(change) ||
    change.before.deal.configVersion !== change.after.deal.configVersion ||
    requestedApprovals(change).length > 0 ||
    endedApprovals(change).length > 0 ||
    decided.kind === 'reminder' ||
    (decided.kind === 'event' && decided.outcome !== 'applied') ||
    (decided.kind !== 'crm_sync' && change.after.crm !== undefined)
  );
}

/** Approvals the decision asked for: pending after it, unknown before. */
export function requestedApprovals({ before, after }: DealChange): Approval[] {
  const known = new Set(before?.deal.approvals.map((a) => a.approvalId));
  return after.deal.approvals.filter((a) => a.status === 'pending' && !known.has(a.approvalId));
}

/** Approvals the decision ended: pending before it, decided, expired or cancelled after. */
export function endedApprovals({ before, after }: DealChange): Approval[] {
  const pending = new Set(before?.deal.approvals.filter((a) => a.status === 'pending').map((a) => a.approvalId));
  return after.deal.approvals.filter((a) => a.status !== 'pending' && pending.has(a.approvalId));
}

/** True when the decision put the deal into a stage (a new deal, a move, a pending move applied). */
export function enteredStage({ before, after }: DealChange): boolean {
  return before === null || before.deal.stage !== after.deal.stage || before.deal.visit !== after.deal.visit;
}

/**
 * Brings the deal's execution in line with the deal as it is now (read again: a late record must not act on an old
 * waiting token): releases the tasks of ended approvals, starts the execution of a new deal, wakes the stage task
 * waiting for a move or for new approval requests, and replaces the execution when it cannot pick those up (a config
 * migration, or approvals asked again while the stage still runs the timers of others).
 */
async function handOffToWorkflow(run: EffectRun): Promise<void> {
  const { change, services } = run;
  for (const approval of endedApprovals(change)) {
    await run.once(`release:${approval.approvalId}`, async () => {
      const record = await services.deals.getApproval(approval.approvalId);
      if (record?.taskToken) await services.workflow.complete(record.taskToken, { status: approval.status });
    });
  }
  const current = await services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
  if (!current) return;
  const { workflow, deal } = current;
  const generation = change.after.workflow.generation;
  if (needsNewExecution(run, current)) {
    await restartWorkflow(run, generation + 1);
  } else if (change.before === null) {
    if (workflow.generation === generation && workflow.waitStage === null) {
      await services.workflow.start({ pipeline: deal.pipeline, dealId: deal.dealId, stage: deal.stage, generation });
    }
  } else if (workflow.waitToken && (workflow.waitStage !== deal.stage || unrunApprovals(deal, null).length > 0)) {
    const position: WorkflowPosition = {
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      stage: deal.stage,
      approvals: [],
    };
    await services.workflow.complete(workflow.waitToken, position);
  }
}

function needsNewExecution(run: EffectRun, current: StoredDeal): boolean {
  const { change } = run;
  if (change.before && change.before.deal.configVersion !== change.after.deal.configVersion) return true;
  if (current.workflow.generation > change.after.workflow.generation) return false;
  // Approvals asked while the stage's timers still run for others: the running Map cannot take more items, and the
  // stage task that would pick them up waits for that Map (issue 13 item 1).
  const { deal, workflow } = current;
  const asked = requestedApprovals(change).filter((a) => a.visit === deal.visit && a.runBy === null);
  const busy = deal.approvals.some((a) => a.status === 'pending' && a.visit === deal.visit && a.runBy !== null);
  return asked.length > 0 && workflow.waitToken === null && workflow.waitStage !== null && busy;
}

/**
 * Replaces the deal's execution with generation `target`, which starts at the deal's current stage and runs the
 * timers of every pending approval (the links already emailed keep working). Idempotent: a retry finds the generation
 * already bumped and only repeats the (idempotent) start.
 */
async function restartWorkflow(run: EffectRun, target: number): Promise<void> {
  const { services, change } = run;
  const { pipeline, dealId } = change.after.deal;
  const current = await retryOnConflict(async () => {
    const stored = await services.deals.getDeal(pipeline, dealId);
    if (!stored || stored.workflow.generation >= target) return stored;
    if (stored.workflow.executionArn) {
      await services.workflow.stop(stored.workflow.executionArn, `replaced by generation ${target}`);
    }
    return services.deals.updateWorkflow(stored, {
      generation: target,
      executionArn: null,
      waitToken: null,
      waitStage: null,
    });
  });
  if (!current || current.workflow.generation !== target) return;
  await services.workflow.start({ pipeline, dealId, stage: current.deal.stage, generation: target });
}

/** New approval requests each get a fresh review link by email; a reminder decision gets the reminder with its link. */
async function notifyApprovers(run: EffectRun): Promise<void> {
  const { change, decided, services } = run;
  const current = await services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
  const stillPending = (approvalId: string) =>
    current?.deal.approvals.find((a) => a.approvalId === approvalId && a.status === 'pending');
  for (const approval of requestedApprovals(change)) {
    const pending = stillPending(approval.approvalId);
    if (pending) await run.once(`request:${approval.approvalId}`, () => mailApprover(run, pending, false));
  }
  if (decided.kind === 'reminder' && decided.approvalId) {
    const pending = stillPending(decided.approvalId);
    if (pending) await run.once(`remind:${decided.approvalId}`, () => mailApprover(run, pending, true));
  }
  for (const approval of endedApprovals(change).filter((a) => a.status === 'cancelled')) {
    const approver = run.pipeline.config.approvers[approval.role];
    if (approver) {
      await run.once(`cancelled:${approval.approvalId}`, () =>
        services.mailer.send(approvalCancelledEmail({ deal: change.after.deal, approval, approver })),
      );
    }
  }
}

/**
 * Mails the approver one review link: its token's hash is stored first (with earlier links kept valid), so a link
 * that was emailed always works; a send that fails leaves an unused hash and is retried with a fresh link.
 */
async function mailApprover(run: EffectRun, approval: Approval, reminder: boolean): Promise<void> {
  const { services, pipeline, change } = run;
  const { deal } = change.after;
  const record = await services.deals.getApproval(approval.approvalId);
  if (reminder ? record?.remindedAt : record?.emailedAt) return;
  const approver = pipeline.config.approvers[approval.role];
  if (!approver) throw new Error(`approver role '${approval.role}' has no address in the pipeline config`);
  const { LINK_SIGNING_KEY } = await loadSecrets();
  const token = newApprovalToken();
  const base: ApprovalBase = {
    approvalId: approval.approvalId,
    pipeline: deal.pipeline,
    dealId: deal.dealId,
    role: approval.role,
    expiresAt: approval.expiresAt,
  };
  const link = `${services.publicBaseUrl}/approvals/${encodeURIComponent(approval.approvalId)}?token=${token}`;
  const stage = requireStage(pipeline.config, approval.stage);
  await services.deals.addReviewToken(base, hashApprovalToken(token, LINK_SIGNING_KEY));
  await services.mailer.send(approvalRequestEmail({ deal, stage, approval, approver, link, reminder }));
  await services.deals.markApprovalSent(base, reminder ? 'remindedAt' : 'emailedAt', services.clock().toISOString());
}

/**
 * What the owner is told about a decision, saying what actually happened: the stage entered (its guidance, or the
 * close), the approvals asked, an approver's decision, an expiry, cancelled approvals, or a refused move.
 */
async function notifyOwner(run: EffectRun): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const { deal } = change.after;
  if (!deal.owner?.email) return;
  const { config } = pipeline;
  const send = (effect: string, message: Parameters<EffectServices['mailer']['send']>[0]) =>
    run.once(effect, () => services.mailer.send(message));
  if (enteredStage(change)) {
    const stage = requireStage(config, deal.stage);
    if (stage.closed) await send('owner:closed', dealClosedEmail({ deal, stage }));
    else if (config.rules.notifyOwnerOnStageEntry) {
      await send('owner:stage', stageEntryEmail({ deal, stage, openCriteria: openExitCriteria(stage, deal.fields) }));
    }
  }
  const requested = requestedApprovals(change);
  const first = requested[0];
  if (first) {
    const stage = requireStage(config, first.stage);
    await send(
      'owner:requested',
      ownerApprovalsRequestedEmail({ deal, stage, approvals: requested, approvers: config.approvers }),
    );
  }
  for (const approval of endedApprovals(change)) {
    if (approval.status === 'approved' || approval.status === 'rejected') {
      await send(`owner:decided:${approval.approvalId}`, approvalDecidedEmail({ deal, approval }));
    } else if (approval.status === 'expired') {
      await send(`owner:expired:${approval.approvalId}`, approvalExpiredEmail({ deal, approval }));
    }
  }
  const cancelled = endedApprovals(change).filter((a) => a.status === 'cancelled');
  if (cancelled.length > 0) {
    await send('owner:cancelled', ownerApprovalsCancelledEmail({ deal, approvals: cancelled }));
  }
  if (decided.kind === 'event' && decided.outcome === 'rejected' && decided.target && !decided.echo) {
    await run.once('owner:refused', () => mailRefusal(run, decided.target ?? ''));
  }
}

/** The refusal email, at most once a day for the same refusal (deal, target stage, missing fields). */
async function mailRefusal(run: EffectRun, target: string): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const { deal } = change.after;
  const missing = decided.reasons.flatMap((r) => (r.code === 'EXIT_CRITERIA_UNMET' ? r.missing : [])).sort();
  const notice = `refused:${target}:${missing.join(',')}:${decided.reasons.map((r) => r.code).join(',')}`;
  const now = services.clock().toISOString();
  if (!(await services.deals.claimDailyNotice(deal.pipeline, deal.dealId, notice, now))) return;
  const stage = requireStage(pipeline.config, deal.stage);
  try {
    await services.mailer.send(
      moveRefusedEmail({ deal, target, reasons: decided.reasons, stage, config: pipeline.config }),
    );
  } catch (error) {
    await services.deals.releaseDailyNotice(deal.pipeline, deal.dealId, notice, now);
    throw error;
  }
}
