import type { LastDecision } from '../core/stored-deal.ts';
import {
  type DealChange,
  decisionOf,
  type EffectRun,
  endedApprovals,
  enteredStage,
  requestedApprovals,
} from './deal-change.ts';
import type { EffectServices } from './effect-services.ts';
import { notifyApprovers } from './effects/approver-mail.ts';
import { writeBackToCrm } from './effects/crm-write-back.ts';
import { notifyOwner } from './effects/owner-mail.ts';
import { PROJECTIONS } from './effects/projections.ts';
import { handOffToWorkflow } from './effects/workflow-hand-off.ts';

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
    decided.kind === 'reroute' ||
    (decided.kind === 'event' && decided.outcome !== 'applied') ||
    (decided.kind !== 'crm_sync' && change.after.crm !== undefined)
  );
}
