import { isEnded, pendingApprovals } from '../../core/deal.ts';
import type { StoredDeal } from '../../core/stored-deal.ts';
import { type EffectRun, endedApprovals, requestedApprovals } from '../deal-change.ts';
import { retryOnConflict } from '../retry-on-conflict.ts';
import { positionOf, unrunApprovals } from '../workflow-tasks.ts';

/**
 * Brings the deal's execution in line with the deal as it is now (read again: a late record must not act on an old
 * waiting token): releases the tasks of ended approvals, starts the execution of a new deal, wakes the stage task
 * waiting for a move or for new approval requests, and replaces the execution when it cannot pick those up (a config
 * migration, a delegation starting or ending, or approvals asked again while the stage still runs the timers of others).
 */
export async function handOffToWorkflow(run: EffectRun): Promise<void> {
  const { change, services } = run;
  for (const approval of endedApprovals(change)) {
    await run.once(`release:${approval.approvalId}`, async () => {
      const record = await services.deals.getApproval(approval.approvalId);
      if (record?.taskToken) await services.workflow.complete(record.taskToken, { status: approval.status });
    });
  }
  // A new deal's first run: none of its later changes has had its effects yet, so the record is the deal as its
  // workflow knows it (no execution yet). Any other run reads the deal as it is now.
  const current =
    change.before === null && !run.rerun
      ? change.after
      : await services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
  if (!current) return;
  if (isEnded(current.deal.status)) {
    await stopWorkflow(run);
    return;
  }
  const { workflow, deal } = current;
  const generation = change.after.workflow.generation;
  if (needsNewExecution(run, current)) {
    await restartWorkflow(run, generation + 1);
  } else if (change.before === null) {
    if (workflow.generation === generation && workflow.waitStage === null) {
      await services.workflow.start(positionOf(current), generation);
    }
  } else if (workflow.waitToken && (workflow.waitStage !== deal.stage || unrunApprovals(deal, null).length > 0)) {
    await services.workflow.complete(workflow.waitToken, positionOf(current));
  }
}

/**
 * True when the running execution cannot carry the change: the deal moved to another config version, or approvals
 * were asked while the stage's timers still run for others (the running Map cannot take more items, and the stage
 * task that would pick them up waits for that Map).
 */
function needsNewExecution(run: EffectRun, current: StoredDeal): boolean {
  const { change } = run;
  if (change.before && change.before.deal.configVersion !== change.after.deal.configVersion) return true;
  // A deal back after it ended (it came back to this pipeline, or its CRM restored it) runs again.
  if (change.before && isEnded(change.before.deal.status) && !isEnded(change.after.deal.status)) return true;
  if (current.workflow.generation > change.after.workflow.generation) return false;
  // Whom the approvals ask changed at a delegation's start or end: the timers run again from the new routing.
  if (run.decided.kind === 'reroute') return true;
  const { deal, workflow } = current;
  const asked = requestedApprovals(change).filter((a) => a.visit === deal.visit && a.runBy === null);
  const busy = pendingApprovals(deal).some((a) => a.runBy !== null);
  return asked.length > 0 && workflow.waitToken === null && workflow.waitStage !== null && busy;
}

/**
 * Stops the execution of a deal that ended (left its pipeline, merged away, deleted): it waits for nothing more. An
 * execution not yet known on the deal stops itself when its stage task finds the deal ended.
 */
async function stopWorkflow(run: EffectRun): Promise<void> {
  const { services, change } = run;
  const { pipeline, dealId } = change.after.deal;
  await retryOnConflict(async () => {
    const stored = await services.deals.getDeal(pipeline, dealId);
    if (!stored || !isEnded(stored.deal.status) || stored.workflow.executionArn === null) return;
    await services.workflow.stop(stored.workflow.executionArn, `the deal ended: ${stored.deal.status}`);
    await services.deals.updateWorkflow(stored, { executionArn: null, waitToken: null, waitStage: null });
  });
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
  await services.workflow.start(positionOf(current), target);
}
