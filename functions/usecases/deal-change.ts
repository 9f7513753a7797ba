import type { Approval } from '../core/deal.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';
import type { LastDecision, StoredDeal } from '../core/stored-deal.ts';
import type { EffectServices } from './effect-services.ts';

/**
 * One committed change of a deal item, as the table's stream delivers it (old and new image): the input of every
 * side effect and read-model projection. `before` is null for a new deal.
 */
export interface DealChange {
  before: StoredDeal | null;
  after: StoredDeal;
}

/** One decision's side effects, with the marks of those already done: what every effect is given. */
export interface EffectRun {
  change: DealChange;
  decided: LastDecision;
  pipeline: VersionedPipeline;
  services: EffectServices;
  /** True when an earlier run of this decision had claimed it (a retried or replayed record): it may have done some. */
  rerun: boolean;
  /**
   * Runs `effect` unless an earlier run of this decision did, then marks it done. The run holds a lease on the
   * decision's marks: past its end it starts no effect, and its marks are refused once a successor took over.
   */
  once(effect: string, run: () => Promise<void>): Promise<void>;
  /**
   * {@link once} for an effect that is one email: `send` sends it with the identity it is given. A re-run of the
   * decision first asks the mail log, and an email the mail service already accepted is marked done, not sent again.
   */
  mailOnce(effect: string, send: (identity: string) => Promise<void>): Promise<void>;
}

/** The decision a change carries: null when the write only changed the workflow state. */
export function decisionOf(before: StoredDeal | null, after: StoredDeal): LastDecision | null {
  const decided = after.lastDecision;
  if (!decided || decided.version !== after.version) return null;
  return before?.lastDecision?.version === decided.version ? null : decided;
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
