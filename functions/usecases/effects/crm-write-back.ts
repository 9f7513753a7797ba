import type { CrmCallResult } from '../../adapters/crm/types.ts';
import { type Approval, type Decision, type HistoryEntry, isEnded } from '../../core/deal.ts';
import type { PipelineConfig } from '../../core/pipeline-config.ts';
import type { LastDecision, StoredDeal } from '../../core/stored-deal.ts';
import { crmStageValue } from '../../sources/crm-maps.ts';
import { missingFieldLines, personLabel } from '../../views/wording.ts';
import { type DealChange, type EffectRun, enteredStage } from '../deal-change.ts';
import { retryOnConflict } from '../retry-on-conflict.ts';

/** How many of Stageflow's recent stage writes a deal keeps (for recognising their echoes). */
const KEPT_WRITES = 5;

/** What one decision writes back to the deal's CRM record: the stage to set it to (the deal's own), and a note. */
export interface WriteBackPlan {
  setStage: boolean;
  note: string | null;
}

/**
 * When a decision is written back: a refused or held move sets the CRM back to the deal's stage
 * with a note saying why (the reasons and missing fields, or the approvals asked and of whom); a pending move applied
 * by its last approval moves the CRM, naming who approved; an approval rejected or expired gets a note. Echoes,
 * field updates and moves the CRM made itself write nothing.
 */
export function writeBackPlan(change: DealChange, decided: LastDecision, config: PipelineConfig): WriteBackPlan | null {
  const { deal } = change.after;
  // A deal that left, was merged away or deleted is no longer this pipeline's to write; a CRM stage the map lacks is
  // the map's fault, not the rep's: neither is written back.
  if (isEnded(deal.status) || decided.reasons.some((reason) => reason.code === 'UNKNOWN_STAGE')) return null;
  const stageName = (key: string | undefined) => config.stages.find((s) => s.key === key)?.name ?? key ?? '';
  if (decided.kind === 'event' && !decided.echo && decided.target !== undefined) {
    if (decided.outcome === 'rejected') {
      const missing = missingFieldLines(decided.reasons, config);
      const note = [
        `Stageflow refused the move to ${stageName(decided.target)}; the deal stays in ${stageName(deal.stage)}.`,
        ...decided.reasons.map((reason) => `- ${reason.message}`),
        ...(missing.length > 0 ? ['Missing:', ...missing.map((line) => `- ${line}`)] : []),
      ].join('\n');
      return { setStage: true, note };
    }
    if (decided.outcome === 'pending_approval') {
      const waiting = deal.approvals.filter((a) => a.status === 'pending' && a.visit === deal.visit);
      const note = [
        `Stageflow holds the move to ${stageName(decided.target)} until it is approved; the deal stays in ` +
          `${stageName(deal.stage)} meanwhile.`,
        'Approvals asked:',
        ...waiting.map((a) => `- ${personLabel(config.approvers[a.role] ?? { name: a.role })}: ${a.reason}`),
      ].join('\n');
      return { setStage: true, note };
    }
    return null;
  }
  if (decided.kind === 'approval' || decided.kind === 'expiry') {
    const ended = change.after.deal.approvals.find((a) => a.approvalId === decided.approvalId);
    if (!ended) return null;
    if (enteredStage(change)) {
      const approvers = deal.approvals.filter((a) => a.status === 'approved' && a.visit === change.before?.deal.visit);
      const note = [
        `Stageflow moved the deal to ${stageName(deal.stage)}: every approval was granted.`,
        ...approvers.map((a) => `- ${a.role} approved by ${a.decidedBy ?? a.role}`),
      ].join('\n');
      return { setStage: true, note };
    }
    if (ended.status === 'rejected') {
      return { setStage: false, note: approvalNote(ended, `rejected by ${ended.decidedBy ?? ended.role}`) };
    }
    if (ended.status === 'expired') return { setStage: false, note: approvalNote(ended, 'expired undecided') };
  }
  return null;
}

function approvalNote(approval: Approval, what: string): string {
  return [
    `Stageflow: the ${approval.role} approval (${approval.reason}) was ${what}.`,
    ...(approval.comment ? [`Comment: ${approval.comment}`] : []),
    'A move that waited for it is cancelled; move the deal again to ask anew.',
  ].join('\n');
}

/**
 * Writes a decision back to the CRM the deal came from, once (marked done per decision), for a CRM whose credentials
 * are set and whose `crm.<source>.writeBack` is not false. The stage written is the deal's stage at the moment of
 * writing, and the stage write is skipped when a newer decision moved the deal since (that one is written itself, or
 * came from the CRM): a late write-back can never undo a newer move. The result goes into the deal's history
 * (`crm_sync`); a failed write-back never changes the decision and does not hold the outbox back.
 */
export async function writeBackToCrm(run: EffectRun): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const source = change.after.crm?.source;
  if (!source || pipeline.config.crm[source]?.writeBack === false) return;
  const plan = writeBackPlan(change, decided, pipeline.config);
  if (!plan) return;
  const client = (await services.crm())[source];
  if (!client) return;
  await run.once('crm', async () => {
    const { pipeline: pipelineId, dealId } = change.after.deal;
    const current = await services.deals.getDeal(pipelineId, dealId);
    if (!current || isEnded(current.deal.status)) return;
    const inDoubt = await run.begin('crm');
    const superseded = current.deal.stage !== change.after.deal.stage || current.deal.visit !== change.after.deal.visit;
    const results: CrmCallResult[] = [];
    const stage = current.deal.stage;
    let wrote = false;
    if (plan.setStage && !superseded) {
      const value = crmStageValue(pipeline.config, source, stage);
      // What the CRM deal shows: the move Stageflow refused or holds (its own moves leave nothing to undo).
      const shown =
        decided.kind === 'event' && decided.target ? crmStageValue(pipeline.config, source, decided.target) : null;
      if (value) {
        const result = await client.setStage(dealId, value, shown);
        results.push(result);
        wrote = result.ok;
      }
    }
    if (plan.note) {
      // The note names its decision, so a write that may have been stored is looked for before it is repeated.
      const ref = `${pipelineId}#${decided.version}`;
      results.push(await client.addNote(dealId, { text: plan.note, ref, inDoubt }));
    }
    if (results.length === 0) return;
    const failed = results.find((result) => !result.ok);
    const status = (failed ?? results[0])?.status ?? 0;
    services.telemetry.crmSynced(change.after.deal, source, !failed, status, failed?.message);
    await recordSync(run, { ok: !failed, status, stage, wrote });
  });
}

/** The write-back's history entry, and the stage written (its echo will be recognised), as a `crm_sync` decision. */
async function recordSync(
  run: EffectRun,
  result: { ok: boolean; status: number; stage: string; wrote: boolean },
): Promise<void> {
  const { services, change } = run;
  const source = change.after.crm?.source;
  await retryOnConflict(async () => {
    const current = await services.deals.getDeal(change.after.deal.pipeline, change.after.deal.dealId);
    if (!current || !source) return;
    const at = services.clock().toISOString();
    const entry: HistoryEntry = {
      at,
      type: 'crm_sync',
      from: null,
      to: result.stage,
      outcome: result.ok ? 'synced' : 'failed',
      eventId: change.after.lastDecision?.eventId ?? null,
      source: null,
      reasons: [],
      status: result.status,
      crm: source,
    };
    const writes = result.wrote
      ? [...(current.crm?.writes ?? []), { stage: result.stage, at }].slice(-KEPT_WRITES)
      : (current.crm?.writes ?? []);
    await services.deals.commit({
      before: current,
      decision: unchanged(current, entry),
      crm: { source, writes },
      lastDecision: {
        kind: 'crm_sync',
        outcome: 'applied',
        reasons: [],
        eventId: null,
        source,
        at,
      },
    });
  });
}

function unchanged(current: StoredDeal, entry: HistoryEntry): Decision {
  return {
    outcome: 'applied',
    reasons: [],
    deal: current.deal,
    history: [entry],
    requested: [],
    ended: [],
    moved: false,
  };
}
