import { type Approval, isEnded, pendingApprovals } from '../../core/deal.ts';
import type { PipelineConfig } from '../../core/pipeline-config.ts';
import type { LastDecision } from '../../core/stored-deal.ts';
import { crmStageValue } from '../../sources/crm-maps.ts';
import { missingFieldLines, personLabel } from '../../views/wording.ts';
import { type DealChange, type EffectRun, enteredStage } from '../deal-change.ts';

/** What one decision writes back to the deal's CRM record: the stage to set it to (the deal's own), and a note. */
export interface WriteBackPlan {
  setStage: boolean;
  note: string | null;
}

/**
 * When a decision is written back: a refused or held move sets the CRM back to the deal's stage
 * with a note saying why (the reasons and missing fields, or the approvals asked and of whom); a pending move applied
 * by its last approval moves the CRM, naming who approved; an approval rejected or expired gets a note; an echo
 * naming another stage than the deal's sets the CRM to the deal's stage (a reconciling write, no note). Other echoes,
 * field updates and moves the CRM made itself write nothing.
 */
export function writeBackPlan(change: DealChange, decided: LastDecision, config: PipelineConfig): WriteBackPlan | null {
  if (decided.reconcile) return { setStage: true, note: null };
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
      const waiting = pendingApprovals(deal);
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
 * Hands a decision's write-back to the CRM the deal came from over to its deal's write-back queue, once (marked done
 * per decision), unless the pipeline says `crm.<source>.writeBack: false`. The outbox makes no CRM call and holds no
 * CRM credentials (a run finds the write-back's CRM unconnected and completes it without a word): the write-back runs (`usecases/write-back/runs.ts`) try the queue in decision order and
 * retry on their own schedule, so a CRM that is slow, down or rate-limited holds back nothing else. What is written
 * is fixed here: the deal's stage after the decision (skipped by the run when a newer decision moved the deal since)
 * and the note, which names its decision.
 */
export async function writeBackToCrm(run: EffectRun): Promise<void> {
  const { change, decided, pipeline, services } = run;
  const source = change.after.crm?.source;
  if (!source || pipeline.config.crm[source]?.writeBack === false) return;
  const plan = writeBackPlan(change, decided, pipeline.config);
  if (!plan) return;
  const { deal } = change.after;
  const value = plan.setStage ? crmStageValue(pipeline.config, source, deal.stage) : null;
  // What the CRM deal shows: the move Stageflow refused or holds (its own moves leave nothing to undo).
  const shown =
    decided.kind === 'event' && decided.target ? crmStageValue(pipeline.config, source, decided.target) : null;
  if (!value && !plan.note) return;
  await run.once('crm', async () => {
    const now = services.clock().toISOString();
    await services.deals.writeBacks.enqueue({
      pipeline: deal.pipeline,
      dealId: deal.dealId,
      version: decided.version,
      source,
      stage: deal.stage,
      visit: deal.visit,
      setStage: value ? { value, shown } : null,
      note: plan.note ? { text: plan.note, ref: `${deal.pipeline}#${decided.version}` } : null,
      eventId: change.after.lastDecision?.eventId ?? null,
      enqueuedAt: now,
      dueAt: now,
      tries: 0,
    });
  });
}
