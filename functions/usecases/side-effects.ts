import { LeaseLostError } from '../adapters/deals/leases.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../adapters/function-timeouts.ts';
import type { LastDecision } from '../core/stored-deal.ts';
import {
  type DealChange,
  decisionOf,
  type EffectRun,
  endedApprovals,
  enteredStage,
  requestedApprovals,
} from './deal-change.ts';
import { runOrGiveUp } from './effect-failures.ts';
import type { EffectServices } from './effect-services.ts';
import { notifyApprovers } from './effects/approver-mail.ts';
import { writeBackToCrm } from './effects/crm-write-back.ts';
import { notifyOwner } from './effects/owner-mail.ts';
import { PROJECTIONS } from './effects/projections.ts';
import { handOffToWorkflow } from './effects/workflow-hand-off.ts';
import { sendUnlessAccepted } from './mail-once.ts';

/**
 * The outbox: everything a committed decision causes outside the table, derived from the stream record's old and new
 * deal image alone (`lastDecision` says what was decided). Runs after the commit, never on an answer path, and may run
 * more than once for one record (a retried batch, a restarted local stack): each effect is marked done per decision
 * once it succeeded (before the next effect starts; the last one with the lease's release), and the workflow calls
 * are idempotent by themselves (execution names, spent task tokens count as
 * done). A failure retrying can fix throws, so the record is retried, in order, until it succeeds; any other
 * failure gives that effect up (recorded: see docs/failure-model.md) and the others go on.
 */
export async function applySideEffects(
  change: DealChange,
  services: EffectServices,
  sequenceNumber: string | null = null,
): Promise<void> {
  const { deal } = change.after;
  const failure = (effect: string, version = change.after.version) => ({
    pipeline: deal.pipeline,
    dealId: deal.dealId,
    version,
    effect,
    sequenceNumber,
  });
  for (const [name, project] of Object.entries(PROJECTIONS)) {
    await runOrGiveUp(services, failure(`projection:${name}`), () => project(change, services));
  }
  const decided = decisionOf(change.before, change.after);
  if (!decided || !hasEffects(change, decided)) return;
  const runMs = FUNCTION_TIMEOUT_SECONDS.outbox * 1000;
  const startedAt = services.clock().getTime();
  const claim = await services.deals.claimEffectRun(deal.pipeline, deal.dealId, decided.version, startedAt, runMs);
  if (!claim) throw new EffectRunInProgressError(`${deal.pipeline}/${deal.dealId}`, decided.version);
  const { lease, done, rerun } = claim;
  // The last effect done whose mark is not yet written: it is written before the next effect starts, or with the
  // release, so a run writes one mark fewer than it has effects (most runs have one: the creation's owner email).
  let unmarked: string | null = null;
  const markUnmarked = async () => {
    if (unmarked === null) return;
    await services.deals.markEffectDone(lease, unmarked, services.clock().toISOString());
    done.add(unmarked);
    unmarked = null;
  };
  const run: EffectRun = {
    change,
    decided,
    pipeline: await services.pipelines.version(deal.pipeline, deal.configVersion),
    services,
    rerun,
    once: async (effect, effectRun) => {
      if (done.has(effect) || effect === unmarked) return;
      await markUnmarked();
      // A run past its lease (its handler timed out) starts nothing more: a successor may be running.
      if (services.clock().getTime() >= lease.until) throw new LeaseLostError(lease.key);
      // An effect given up is marked too: retrying the record for another effect's sake never repeats it.
      await runOrGiveUp(services, failure(effect, decided.version), effectRun);
      unmarked = effect;
    },
    mailOnce: (effect, send) =>
      run.once(effect, () =>
        sendUnlessAccepted(
          { pipeline: deal.pipeline, dealId: deal.dealId, decided, effect, rerun },
          services.mailLog,
          send,
        ),
      ),
  };
  const steps = { workflow: handOffToWorkflow, approvers: notifyApprovers, owner: notifyOwner, crm: writeBackToCrm };
  try {
    for (const [name, step] of Object.entries(steps)) {
      await runOrGiveUp(services, failure(name, decided.version), () => step(run));
    }
  } finally {
    const lastDone = unmarked === null ? null : { effect: unmarked, now: services.clock().toISOString() };
    await services.deals.releaseEffectRun(lease, lastDone);
  }
}

/** Another run of the same decision's side effects holds its lease: this one is retried once that run has ended. */
export class EffectRunInProgressError extends Error {
  constructor(dealKey: string, version: number) {
    super(`the side effects of ${dealKey} version ${version} are being run by another invocation; retried later`);
    this.name = 'EffectRunInProgressError';
  }
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
