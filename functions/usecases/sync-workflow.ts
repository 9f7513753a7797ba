import type { WorkflowPosition } from '../../workflows/definition.ts';
import type { StoredDeal } from '../adapters/deal-repository.ts';
import type { Approval, Deal } from '../core/deal.ts';
import type { Services } from './services.ts';

/**
 * Pending approvals of the deal's current visit whose timers `executionId` does not run: those nobody runs yet
 * (`runBy` null) and, for a new execution after a restart, those an earlier execution ran. With `null`, only the
 * ones nobody runs.
 */
export function unrunApprovals(deal: Deal, executionId: string | null): Approval[] {
  return deal.approvals.filter(
    (approval) =>
      approval.status === 'pending' &&
      approval.visit === deal.visit &&
      (executionId === null ? approval.runBy === null : approval.runBy !== executionId),
  );
}

/**
 * What the workflow must be told so that it matches the stored deal: start the deal's execution (none picked it up
 * yet), or wake the stage task waiting on it (with the token to wake), besides releasing the tasks of `ended` approvals.
 */
export function pendingHandOff(stored: StoredDeal, ended: Approval[]) {
  const { deal, workflow } = stored;
  const start = workflow.waitStage === null;
  const outdated = workflow.waitStage !== deal.stage || unrunApprovals(deal, null).length > 0;
  const wakeToken = !start && outdated ? workflow.waitToken : null;
  return { start, wakeToken, needed: ended.length > 0 || start || wakeToken !== null };
}

/**
 * Brings the deal's workflow in line with the stored deal. Idempotent, so that a redelivered event whose first
 * delivery recorded the decision but crashed before this hand-off can simply run it again:
 * - a deal no execution has picked up yet gets its execution started (the name makes a repeated start a no-op);
 * - a waiting stage task is answered when the deal left that stage or has approval requests to run;
 * - approvals that ended (decided, cancelled, expired) release the tasks waiting on them.
 */
export async function syncWorkflow(stored: StoredDeal, ended: Approval[], services: Services): Promise<void> {
  const { deal, workflow } = stored;
  const handOff = pendingHandOff(stored, ended);
  await Promise.all(ended.map((approval) => releaseApproval(approval, services)));
  if (handOff.start) {
    await services.workflow.start({
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      stage: deal.stage,
      generation: Math.max(workflow.generation, 1),
    });
  }
  if (handOff.wakeToken) {
    const output: WorkflowPosition = { pipeline: deal.pipeline, dealId: deal.dealId, stage: deal.stage, approvals: [] };
    await services.workflow.complete(handOff.wakeToken, output);
  }
}

async function releaseApproval(approval: Approval, services: Services): Promise<void> {
  const record = await services.deals.getApproval(approval.approvalId);
  if (record?.taskToken) await services.workflow.complete(record.taskToken, { status: approval.status });
}
