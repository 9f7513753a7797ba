import type { Deal, Decision, DecisionContext, Fields, StageEvent } from '../../../functions/core/deal.ts';
import { decideApproval, decideEvent } from '../../../functions/core/decide/entry-points.ts';
import type { VersionedPipeline } from '../../../functions/core/pipeline-config.ts';
import { defaultPipeline } from './default-pipeline.ts';

/** Test scaffolding for the decision functions: a clock, event builders and deals driven to any stage. */

export const pipeline = defaultPipeline();

export const timing = { reminderSeconds: 86_400, expirySeconds: 259_200 };

/** Fields that meet each open stage's exit criteria, in the string forms CRMs send where they differ. */
export const EXIT_FIELDS: Record<string, Fields> = {
  identify: { decisionMaker: 'Jane Roe', firstMeetingDate: '2026-11-20' },
  qualify: { champion: 'Sam Champion', budgetConfirmed: 'true' },
  propose: { decisionCriteria: 'TCO over 3 years', quoteId: 'Q-77', pricingPresented: true, closePlan: 'Sign by Dec' },
  negotiate: { signaturePackageReady: 'true', signatureDate: '2026-12-01', kickoffDate: '2026-12-15T09:00:00Z' },
  deliver: { contractSigned: true, orderFormSigned: 'true' },
};

const OPEN_PATH = ['identify', 'qualify', 'propose', 'negotiate', 'deliver'];

/**
 * A clock that moves one minute per call, shared by event times and decision times, and a shared approval id
 * counter so that ids stay unique across the decisions of one scenario.
 */
export class Timeline {
  readonly #start: number;
  #minute = 0;
  #ids = 0;
  constructor(start = Date.UTC(2026, 10, 27, 9)) {
    this.#start = start;
  }

  /** The next instant. */
  at(): string {
    this.#minute += 1;
    return this.atMinute(this.#minute);
  }

  /** A fixed instant relative to the start, for events that arrive out of order. */
  atMinute(minute: number): string {
    return new Date(this.#start + minute * 60_000).toISOString();
  }

  ctx(): DecisionContext {
    return { now: this.at(), newApprovalId: () => `apr-${++this.#ids}`, timing };
  }
}

export function stageEvent(
  tl: Timeline,
  stage: string | undefined,
  fields: Fields = {},
  extra: Partial<StageEvent> = {},
): StageEvent {
  const occurredAt = extra.occurredAt ?? tl.at();
  return {
    source: 'generic',
    eventId: `evt-${occurredAt}-${stage ?? 'fields'}`,
    pipeline: 'default',
    dealId: 'D-1001',
    ...(stage === undefined ? {} : { stage }),
    occurredAt,
    dealName: 'Acme rollout',
    owner: { email: 'rep@example.com', name: 'Riley Rep' },
    fields,
    ...extra,
  };
}

export function send(
  tl: Timeline,
  deal: Deal | null,
  stage: string | undefined,
  fields: Fields = {},
  extra: Partial<StageEvent> = {},
  on: VersionedPipeline = pipeline,
): Decision {
  return decideEvent(on, deal, stageEvent(tl, stage, fields, extra), tl.ctx());
}

export function grant(tl: Timeline, deal: Deal, role: string, approve = true, comment: string | null = null): Decision {
  const approval = deal.approvals.findLast((a) => a.role === role && a.status === 'pending');
  if (approval === undefined) throw new Error(`no pending ${role} approval on the deal`);
  return decideApproval(
    pipeline,
    deal,
    { approvalId: approval.approvalId, approve, decidedBy: `${role}@example.com`, comment },
    tl.ctx(),
  );
}

function applied(decision: Decision, what: string): Deal {
  if (decision.outcome !== 'applied' || decision.deal === null) {
    throw new Error(`${what}: expected applied, got ${decision.outcome} ${JSON.stringify(decision.reasons)}`);
  }
  return decision.deal;
}

/**
 * A deal driven through the default pipeline into `target` the lawful way: each move brings the fields the stage
 * it leaves needs; closed_won is reached with both Finance and Legal approvals granted.
 */
export function dealIn(target: string, tl = new Timeline()): Deal {
  let deal = applied(send(tl, null, 'identify'), 'create');
  if (target === 'closed_lost') {
    deal = applied(send(tl, deal, 'qualify', EXIT_FIELDS.identify), 'to qualify');
    return applied(send(tl, deal, 'closed_lost', { lostReason: 'Chose a competitor' }), 'to closed_lost');
  }
  const path = target === 'closed_won' ? OPEN_PATH : OPEN_PATH.slice(0, OPEN_PATH.indexOf(target) + 1);
  for (const [at, stage] of path.entries()) {
    if (at === 0) continue;
    deal = applied(send(tl, deal, stage, EXIT_FIELDS[path[at - 1] ?? '']), `to ${stage}`);
  }
  if (target !== 'closed_won') return deal;
  deal = applied(grant(tl, deal, 'finance'), 'finance approves');
  deal = applied(grant(tl, deal, 'legal'), 'legal approves');
  return applied(send(tl, deal, 'closed_won', EXIT_FIELDS.deliver), 'to closed_won');
}
