import { describe, expect, it } from 'vitest';
import { requiredExitApprovals } from '../../../functions/core/approval-gate.ts';
import { openExitCriteria } from '../../../functions/core/criteria.ts';
import type { Deal, Decision, Fields } from '../../../functions/core/deal.ts';
import { decideApproval, decideEvent, expireApproval } from '../../../functions/core/decide/entry-points.ts';
import type { Reason } from '../../../functions/core/decide/reasons.ts';
import { ApprovalNotPendingError } from '../../../functions/core/errors.ts';
import type { PipelineConfig, VersionedPipeline } from '../../../functions/core/pipeline-config.ts';
import { requireStage } from '../../../functions/core/stages.ts';
import { dealIn, EXIT_FIELDS, grant, pipeline, send, stageEvent, Timeline } from './scenario.ts';

const { config } = pipeline;
const codes = (d: Decision) => d.reasons.map((r) => r.code);
const reason = (d: Decision, code: string): Reason | undefined => d.reasons.find((r) => r.code === code);
const dealOf = (d: Decision): Deal => {
  if (d.deal === null) throw new Error(`no deal in ${JSON.stringify(d)}`);
  return d.deal;
};
const withRules = (rules: Partial<PipelineConfig['rules']>): VersionedPipeline => ({
  version: pipeline.version,
  config: { ...config, rules: { ...config.rules, ...rules } },
});
const pendingRoles = (deal: Deal) => deal.approvals.filter((a) => a.status === 'pending').map((a) => a.role);

describe('decideEvent: the first event of a deal', () => {
  it('creates the deal in the first stage when the event names none', () => {
    const tl = new Timeline();
    const event = stageEvent(tl, undefined, { decisionMaker: 'Jane', amount: '5000', budget: null });
    const ctx = tl.ctx();
    const d = decideEvent(pipeline, null, event, ctx);
    expect(d).toMatchObject({ outcome: 'applied', reasons: [], moved: true, requested: [], ended: [] });
    expect(d.deal).toEqual({
      pipeline: 'default',
      dealId: 'D-1001',
      dealName: 'Acme rollout',
      owner: { email: 'rep@example.com', name: 'Riley Rep' },
      stage: 'identify',
      status: 'open',
      configVersion: pipeline.version,
      fields: { decisionMaker: 'Jane', amount: '5000' },
      fieldTimes: { decisionMaker: event.occurredAt, amount: event.occurredAt, budget: event.occurredAt },
      stageEventAt: event.occurredAt,
      lastEventAt: event.occurredAt,
      visit: 1,
      approvals: [],
      pendingMove: null,
      createdAt: ctx.now,
      updatedAt: ctx.now,
    });
    expect(d.history).toEqual([
      {
        at: ctx.now,
        occurredAt: event.occurredAt,
        type: 'created',
        from: null,
        to: 'identify',
        outcome: 'applied',
        eventId: event.eventId,
        source: 'generic',
        reasons: [],
      },
    ]);
  });

  it('creates the deal in the start stage it names, without name or owner when the event has none', () => {
    const tl = new Timeline();
    const d = decideEvent(
      pipeline,
      null,
      { ...stageEvent(tl, 'identify'), dealName: undefined, owner: undefined },
      tl.ctx(),
    );
    expect(d.outcome).toBe('applied');
    expect(dealOf(d)).toMatchObject({ stage: 'identify', dealName: null, owner: null });
  });

  it.each([['prospecting', 'UNKNOWN_STAGE', /no stage 'prospecting'.*identify/]])(
    'refuses to create a deal in %s (%s) and creates nothing',
    (stage, code, message) => {
      const tl = new Timeline();
      const d = send(tl, null, stage, EXIT_FIELDS.identify);
      expect(d).toMatchObject({ outcome: 'rejected', deal: null, history: [], requested: [], moved: false });
      expect(codes(d)).toEqual([code]);
      expect(reason(d, code)?.message).toMatch(message);
    },
  );

  it('starts in any stage the pipeline lists, and asks that stage’s entry approvals at once', () => {
    const tl = new Timeline();
    const d = send(tl, null, 'deliver', {}, {}, withRules({ startStages: ['identify', 'deliver'] }));
    expect(d.outcome).toBe('applied');
    const deal = dealOf(d);
    expect(deal.stage).toBe('deliver');
    expect(d.requested.map((a) => [a.role, a.kind, a.stage, a.visit])).toEqual([
      ['finance', 'entry', 'deliver', 1],
      ['legal', 'entry', 'deliver', 1],
    ]);
    expect(deal.approvals).toEqual(d.requested);
  });

  it('defaults the start stage to the first stage when the pipeline names none', () => {
    const tl = new Timeline();
    const lax = withRules({ startStages: undefined });
    expect(dealOf(send(tl, null, undefined, {}, {}, lax)).stage).toBe('identify');
    expect(codes(send(tl, null, 'qualify', {}, {}, lax))).toEqual(['START_STAGE_NOT_ALLOWED']);
  });
});

describe('a move that overtakes the deal’s creation', () => {
  it.each(['qualify', 'closed_won'])(
    'creates the deal in identify with the fields of a first move to %s, and holds the move',
    (stage) => {
      const tl = new Timeline();
      const d = send(tl, null, stage, { ...EXIT_FIELDS.identify, amount: 5000 });
      expect(d.outcome).toBe('rejected');
      expect(codes(d)).toEqual(['START_STAGE_NOT_ALLOWED']);
      expect(reason(d, 'START_STAGE_NOT_ALLOWED')?.message).toMatch(/only in identify.*created in identify.*held/);
      const deal = dealOf(d);
      expect(deal).toMatchObject({ stage: 'identify', fields: { ...EXIT_FIELDS.identify, amount: 5000 } });
      expect(deal.heldMove).toMatchObject({ to: stage });
      expect(d.history.map((h) => [h.type, h.to, h.outcome])).toEqual([
        ['created', 'identify', 'applied'],
        ['move', stage, 'rejected'],
      ]);
    },
  );

  it('judges the held move once the older creation arrives: the deal ends where in-order delivery puts it', () => {
    const tl = new Timeline();
    const createdAt = tl.atMinute(10);
    const movedAt = tl.atMinute(20);
    const early = send(tl, null, 'qualify', { champion: 'Sam' }, { occurredAt: movedAt, eventId: 'move' });
    const late = send(tl, dealOf(early), 'identify', EXIT_FIELDS.identify, {
      occurredAt: createdAt,
      eventId: 'create',
    });
    expect(late.outcome).toBe('applied');
    const deal = dealOf(late);
    expect(deal).toMatchObject({ stage: 'qualify', stageEventAt: movedAt, heldMove: null });
    expect(deal.fields).toMatchObject({ ...EXIT_FIELDS.identify, champion: 'Sam' });
    expect(late.history.map((h) => [h.type, h.to, h.outcome, h.eventId])).toEqual([
      ['fields', null, 'applied', 'create'],
      ['move', 'qualify', 'applied', 'move'],
    ]);
  });

  it('judges a held move before a newer event, and drops it once judged', () => {
    const tl = new Timeline();
    const early = send(tl, null, 'qualify', {}, { occurredAt: tl.atMinute(20), eventId: 'move' });
    const next = send(tl, dealOf(early), undefined, { note: 'x' }, { occurredAt: tl.atMinute(30), eventId: 'note' });
    expect(next.outcome).toBe('applied');
    expect(next.reasons.map((r) => r.code)).toEqual(['EXIT_CRITERIA_UNMET']);
    expect(dealOf(next)).toMatchObject({ stage: 'identify', heldMove: null, fields: { note: 'x' } });
    expect(next.history.map((h) => [h.type, h.outcome, h.eventId])).toEqual([
      ['move', 'rejected', 'move'],
      ['fields', 'applied', 'note'],
    ]);
  });
});

interface MoveCase {
  from: string;
  to: string | undefined;
  fields: Fields;
  outcome: Decision['outcome'];
  stage: string;
  codes: string[];
  missing?: string[];
  message?: RegExp;
  on?: VersionedPipeline;
}

const lost = { lostReason: 'Budget cut' };
const moveCases: Record<string, MoveCase> = {
  'forward with the exit criteria in the same event': {
    from: 'identify',
    to: 'qualify',
    fields: EXIT_FIELDS.identify ?? {},
    outcome: 'applied',
    stage: 'qualify',
    codes: [],
  },
  'forward without the exit criteria': {
    from: 'identify',
    to: 'qualify',
    fields: {},
    outcome: 'rejected',
    stage: 'identify',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['decisionMaker', 'firstMeetingDate'],
    message: /leave Identify.*The targeted decision maker is named; The first meeting is on the calendar/,
  },
  'forward with an impossible date': {
    from: 'identify',
    to: 'qualify',
    fields: { decisionMaker: 'Jane', firstMeetingDate: '2026-02-30' },
    outcome: 'rejected',
    stage: 'identify',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['firstMeetingDate'],
  },
  'forward with the budget not confirmed': {
    from: 'qualify',
    to: 'propose',
    fields: { champion: 'Sam', budgetConfirmed: 'false' },
    outcome: 'rejected',
    stage: 'qualify',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['budgetConfirmed'],
    message: /To leave Qualify, these must hold: The budget is confirmed\./,
  },
  'forward from negotiate with everything signed off': {
    from: 'negotiate',
    to: 'deliver',
    fields: EXIT_FIELDS.negotiate ?? {},
    outcome: 'applied',
    stage: 'deliver',
    codes: [],
  },
  'a skip with the exit criteria met': {
    from: 'identify',
    to: 'propose',
    fields: EXIT_FIELDS.identify ?? {},
    outcome: 'rejected',
    stage: 'identify',
    codes: ['SKIP_NOT_ALLOWED'],
    message: /after Identify comes Qualify, not Propose. Move the deal to Qualify first/,
  },
  'a skip without the exit criteria': {
    from: 'identify',
    to: 'negotiate',
    fields: {},
    outcome: 'rejected',
    stage: 'identify',
    codes: ['SKIP_NOT_ALLOWED', 'EXIT_CRITERIA_UNMET'],
    missing: ['decisionMaker', 'firstMeetingDate'],
  },
  'a skip where the pipeline allows skips': {
    from: 'identify',
    to: 'negotiate',
    fields: EXIT_FIELDS.identify ?? {},
    outcome: 'applied',
    stage: 'negotiate',
    codes: [],
    on: withRules({ allowSkips: true }),
  },
  'backward, with no criteria': {
    from: 'propose',
    to: 'identify',
    fields: {},
    outcome: 'applied',
    stage: 'identify',
    codes: [],
  },
  'backward from deliver': {
    from: 'deliver',
    to: 'qualify',
    fields: {},
    outcome: 'applied',
    stage: 'qualify',
    codes: [],
  },
  'backward where the pipeline forbids it': {
    from: 'propose',
    to: 'qualify',
    fields: {},
    outcome: 'rejected',
    stage: 'propose',
    codes: ['BACKWARD_NOT_ALLOWED'],
    message: /allowBackward/,
    on: withRules({ allowBackward: false }),
  },
  'closed lost from identify': {
    from: 'identify',
    to: 'closed_lost',
    fields: lost,
    outcome: 'rejected',
    stage: 'identify',
    codes: ['CLOSED_LOST_REQUIRES_QUALIFY'],
    message: /only from qualify, propose, negotiate, or deliver/,
  },
  'closed lost from identify without a reason': {
    from: 'identify',
    to: 'closed_lost',
    fields: {},
    outcome: 'rejected',
    stage: 'identify',
    codes: ['CLOSED_LOST_REQUIRES_QUALIFY', 'EXIT_CRITERIA_UNMET'],
    missing: ['lostReason'],
  },
  'closed lost from qualify with a reason': {
    from: 'qualify',
    to: 'closed_lost',
    fields: lost,
    outcome: 'applied',
    stage: 'closed_lost',
    codes: [],
  },
  'closed lost from qualify without a reason': {
    from: 'qualify',
    to: 'closed_lost',
    fields: { lostReason: '  ' },
    outcome: 'rejected',
    stage: 'qualify',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['lostReason'],
    message: /enter Closed Lost.*The reason the deal was lost is recorded/,
  },
  'closed lost from deliver, whose exit criteria it does not need': {
    from: 'deliver',
    to: 'closed_lost',
    fields: lost,
    outcome: 'applied',
    stage: 'closed_lost',
    codes: [],
  },
  'closed won from negotiate': {
    from: 'negotiate',
    to: 'closed_won',
    fields: EXIT_FIELDS.negotiate ?? {},
    outcome: 'rejected',
    stage: 'negotiate',
    codes: ['CLOSED_STAGE_NOT_REACHABLE'],
    message: /only from deliver/,
  },
  'closed won from deliver without signatures': {
    from: 'deliver',
    to: 'closed_won',
    fields: { contractSigned: 'true' },
    outcome: 'rejected',
    stage: 'deliver',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['orderFormSigned'],
  },
  'a move out of a won deal': {
    from: 'closed_won',
    to: 'deliver',
    fields: {},
    outcome: 'rejected',
    stage: 'closed_won',
    codes: ['DEAL_CLOSED'],
    message: /closed.*field updates are still recorded/,
  },
  'a move out of a lost deal': {
    from: 'closed_lost',
    to: 'qualify',
    fields: {},
    outcome: 'rejected',
    stage: 'closed_lost',
    codes: ['DEAL_CLOSED'],
  },
  'from lost to won': {
    from: 'closed_lost',
    to: 'closed_won',
    fields: {},
    outcome: 'rejected',
    stage: 'closed_lost',
    codes: ['DEAL_CLOSED'],
  },
  'the current stage of a closed deal, with fields': {
    from: 'closed_won',
    to: 'closed_won',
    fields: { renewalDate: '2027-12-01' },
    outcome: 'applied',
    stage: 'closed_won',
    codes: [],
  },
  'fields only, on a closed deal': {
    from: 'closed_lost',
    to: undefined,
    fields: { note: 'call back next year' },
    outcome: 'applied',
    stage: 'closed_lost',
    codes: [],
  },
  'the current stage, as a field update': {
    from: 'propose',
    to: 'propose',
    fields: { quoteId: 'Q-2' },
    outcome: 'applied',
    stage: 'propose',
    codes: [],
  },
  'an unknown stage': {
    from: 'qualify',
    to: 'prospecting',
    fields: {},
    outcome: 'rejected',
    stage: 'qualify',
    codes: ['UNKNOWN_STAGE'],
  },
  'propose → negotiate with a 20% discount': {
    from: 'propose',
    to: 'negotiate',
    fields: { ...EXIT_FIELDS.propose, discountPercent: '20' },
    outcome: 'applied',
    stage: 'negotiate',
    codes: [],
  },
  'propose → negotiate with a 25% discount': {
    from: 'propose',
    to: 'negotiate',
    fields: { ...EXIT_FIELDS.propose, discountPercent: '25' },
    outcome: 'pending_approval',
    stage: 'propose',
    codes: ['APPROVAL_PENDING'],
    message: /Sales manager/,
  },
  'propose → negotiate with a 25% discount and no quote': {
    from: 'propose',
    to: 'negotiate',
    fields: { ...EXIT_FIELDS.propose, quoteId: null, discountPercent: 25 },
    outcome: 'rejected',
    stage: 'propose',
    codes: ['EXIT_CRITERIA_UNMET'],
    missing: ['quoteId'],
  },
};

describe('decideEvent: moving an existing deal', () => {
  it.each(Object.entries(moveCases))('%s', (_, c) => {
    const tl = new Timeline();
    const before = dealIn(c.from, tl);
    const snapshot = structuredClone(before);
    const d = send(tl, before, c.to, c.fields, {}, c.on ?? pipeline);
    const after = dealOf(d);

    expect(before).toEqual(snapshot);
    expect(d.outcome).toBe(c.outcome);
    expect(codes(d)).toEqual(c.codes);
    expect(after.stage).toBe(c.stage);
    expect(d.moved).toBe(c.stage !== c.from);
    expect(after.visit).toBe(before.visit + (d.moved ? 1 : 0));
    expect(after.status).toBe(requireStage(config, c.stage).closed ?? 'open');
    for (const r of d.reasons) expect(r.message.length).toBeGreaterThan(20);
    if (c.missing !== undefined) expect(reason(d, 'EXIT_CRITERIA_UNMET')?.missing).toEqual(c.missing);
    if (c.message !== undefined) expect(d.reasons.map((r) => r.message).join(' ')).toMatch(c.message);
    for (const [field, value] of Object.entries(c.fields)) {
      expect(after.fields[field]).toEqual(value ?? undefined);
    }
    expect(d.history).toHaveLength(1);
    expect(d.history[0]).toMatchObject({
      type: c.to === undefined || c.to === c.from ? 'fields' : 'move',
      outcome: c.outcome,
      reasons: d.reasons,
    });
    if (d.moved) {
      expect(after.stageEventAt).toBe(after.lastEventAt);
      expect(d.history[0]).toMatchObject({ from: c.from, to: c.to });
    } else {
      expect(after.stageEventAt).toBe(before.stageEventAt);
    }
  });

  it('says which stage comes next when a skip is refused', () => {
    const tl = new Timeline();
    const d = send(tl, dealIn('qualify', tl), 'negotiate', EXIT_FIELDS.qualify);
    expect(reason(d, 'SKIP_NOT_ALLOWED')).toMatchObject({ from: 'qualify', to: 'negotiate', next: 'propose' });
  });

  it('records a field update on a stage event without moving or touching pending approvals', () => {
    const tl = new Timeline();
    const deal = dealIn('deliver', tl);
    const d = send(tl, deal, 'deliver', { contractSigned: 'true' });
    expect(d).toMatchObject({ outcome: 'applied', moved: false, requested: [], ended: [] });
    expect(dealOf(d).approvals).toEqual(deal.approvals);
  });
});

describe('decideEvent: merging fields and ordering events', () => {
  it('never lets an older event override a newer value, and records null as a removal with its time', () => {
    const tl = new Timeline();
    let deal = dealOf(send(tl, null, undefined, { a: 'first', b: 'first' }, { occurredAt: tl.atMinute(10) }));
    deal = dealOf(send(tl, deal, undefined, { a: null, b: 'second', c: 'c' }, { occurredAt: tl.atMinute(20) }));
    const late = send(tl, deal, undefined, { a: 'old', b: 'old', c: 'old', d: 'new' }, { occurredAt: tl.atMinute(15) });
    expect(late.outcome).toBe('applied');
    expect(dealOf(late).fields).toEqual({ b: 'second', c: 'c', d: 'new' });
    expect(dealOf(late).fieldTimes).toEqual({
      a: tl.atMinute(20),
      b: tl.atMinute(20),
      c: tl.atMinute(20),
      d: tl.atMinute(15),
    });
    expect(dealOf(late).lastEventAt).toBe(tl.atMinute(20));
  });

  it('takes a value from an event at the same instant as the stored one', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, null, undefined, { a: 'x' }, { occurredAt: tl.atMinute(10) }));
    const again = send(tl, deal, undefined, { a: 'y' }, { occurredAt: '2026-11-27T09:10:00Z' });
    expect(dealOf(again).fields.a).toBe('y');
  });

  it('calls a field-only event stale when every field it brings is older than the stored one', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, null, undefined, { a: 'new' }, { occurredAt: tl.atMinute(10) }));
    const d = send(tl, deal, undefined, { a: 'old' }, { occurredAt: tl.atMinute(5), dealName: 'Old name' });
    expect(d.outcome).toBe('stale');
    expect(codes(d)).toEqual(['STALE_EVENT']);
    expect(d.deal).toEqual(deal);
    expect(d.history[0]).toMatchObject({ type: 'fields', outcome: 'stale' });
  });

  it('takes name and owner only from the newest event', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, null, undefined, {}, { occurredAt: tl.atMinute(10) }));
    const older = dealOf(send(tl, deal, undefined, { x: 1 }, { occurredAt: tl.atMinute(5), dealName: 'Older' }));
    expect(older.dealName).toBe('Acme rollout');
    const owner = { email: 'new@example.com' };
    const newer = dealOf(send(tl, older, undefined, {}, { occurredAt: tl.atMinute(11), dealName: 'Newer', owner }));
    expect(newer).toMatchObject({ dealName: 'Newer', owner, lastEventAt: tl.atMinute(11) });
  });

  it('calls a move older than the current stage stale, yet keeps its newer fields', () => {
    const tl = new Timeline();
    let deal = dealOf(send(tl, null, 'identify', {}, { occurredAt: tl.atMinute(10) }));
    deal = dealOf(send(tl, deal, 'qualify', EXIT_FIELDS.identify, { occurredAt: tl.atMinute(20) }));
    const d = send(tl, deal, 'identify', { champion: 'Sam', decisionMaker: 'Old' }, { occurredAt: tl.atMinute(15) });
    expect(d).toMatchObject({ outcome: 'stale', moved: false });
    expect(codes(d)).toEqual(['STALE_EVENT']);
    expect(dealOf(d)).toMatchObject({ stage: 'qualify', stageEventAt: tl.atMinute(20) });
    expect(dealOf(d).fields).toMatchObject({ champion: 'Sam', decisionMaker: 'Jane Roe' });
    expect(dealOf(d).updatedAt).not.toBe(deal.updatedAt);
  });

  it('keeps the fields a refused move brought', () => {
    const tl = new Timeline();
    const d = send(tl, dealIn('identify', tl), 'qualify', { decisionMaker: 'Jane' });
    expect(d.outcome).toBe('rejected');
    expect(reason(d, 'EXIT_CRITERIA_UNMET')?.missing).toEqual(['firstMeetingDate']);
    expect(dealOf(d).fields.decisionMaker).toBe('Jane');
  });

  it('lets fields sent earlier meet the exit criteria of a later move', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, dealIn('identify', tl), undefined, EXIT_FIELDS.identify));
    expect(send(tl, deal, 'qualify').outcome).toBe('applied');
  });

  it('lets a removed field fail the exit criteria', () => {
    const tl = new Timeline();
    let deal = dealOf(send(tl, dealIn('identify', tl), undefined, EXIT_FIELDS.identify));
    deal = dealOf(send(tl, deal, undefined, { decisionMaker: null }));
    expect(reason(send(tl, deal, 'qualify'), 'EXIT_CRITERIA_UNMET')?.missing).toEqual(['decisionMaker']);
  });

  it('stores a CRM field named __proto__ as an ordinary field', () => {
    const tl = new Timeline();
    const d = send(tl, dealIn('identify', tl), undefined, JSON.parse('{"__proto__": {"polluted": true}}'));
    const deal = dealOf(d);
    expect(Object.hasOwn(deal.fields, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(deal.fields)).toBe(Object.prototype);
    expect(Object.hasOwn(deal.fieldTimes, '__proto__')).toBe(true);
  });

  it('leaves updatedAt alone when nothing changed', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, null, undefined, { a: 'new' }, { occurredAt: tl.atMinute(10) }));
    const d = send(tl, deal, undefined, { a: 'old' }, { occurredAt: tl.atMinute(5) });
    expect(dealOf(d).updatedAt).toBe(deal.updatedAt);
  });
});

describe('approvals', () => {
  it('asks Finance and Legal at once when a deal enters deliver', () => {
    const tl = new Timeline();
    const deal = dealIn('negotiate', tl);
    const ctx = tl.ctx();
    const d = decideEvent(pipeline, deal, stageEvent(tl, 'deliver', EXIT_FIELDS.negotiate), ctx);
    expect(d.outcome).toBe('applied');
    expect(d.requested).toEqual([
      {
        approvalId: expect.any(String),
        role: 'finance',
        stage: 'deliver',
        visit: deal.visit + 1,
        kind: 'entry',
        reason: 'Finance validates the signed contract details',
        status: 'pending',
        requestedAt: ctx.now,
        remindAt: new Date(Date.parse(ctx.now) + 86_400_000).toISOString(),
        expiresAt: new Date(Date.parse(ctx.now) + 259_200_000).toISOString(),
        decidedBy: null,
        decidedAt: null,
        comment: null,
        runBy: null,
        asks: [
          {
            askId: '1',
            email: 'finance@example.com',
            name: 'Finance',
            onBehalfOf: null,
            status: 'pending',
            askedAt: ctx.now,
            decidedAt: null,
          },
        ],
      },
      expect.objectContaining({ role: 'legal', kind: 'entry', status: 'pending' }),
    ]);
    expect(new Set(d.requested.map((a) => a.approvalId)).size).toBe(2);
  });

  it('waits for the entry approvals when the deal tries to close as won, and never asks twice', () => {
    const tl = new Timeline();
    const deal = dealIn('deliver', tl);
    const first = send(tl, deal, 'closed_won', EXIT_FIELDS.deliver);
    expect(first).toMatchObject({ outcome: 'pending_approval', requested: [], moved: false });
    expect(reason(first, 'APPROVAL_PENDING')).toMatchObject({ roles: ['finance', 'legal'], to: 'closed_won' });
    const pending = dealOf(first).pendingMove;
    expect(pending).toMatchObject({ to: 'closed_won', eventId: first.history[0]?.eventId });
    expect(first.history[0]).toMatchObject({
      type: 'move',
      from: 'deliver',
      to: 'closed_won',
      outcome: 'pending_approval',
    });

    const second = send(tl, dealOf(first), 'closed_won');
    expect(second).toMatchObject({ outcome: 'pending_approval', requested: [] });
    expect(dealOf(second).approvals).toEqual(dealOf(first).approvals);
    expect(dealOf(second).pendingMove).toEqual(pending);
  });

  it('applies the pending move by itself when the last approval is granted', () => {
    const tl = new Timeline();
    const waiting = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    const moveAt = waiting.lastEventAt;

    const financeOk = grant(tl, waiting, 'finance', true, 'Numbers check out');
    expect(financeOk).toMatchObject({ outcome: 'applied', moved: false, requested: [] });
    expect(financeOk.ended).toEqual([
      expect.objectContaining({
        role: 'finance',
        status: 'approved',
        decidedBy: 'finance@example.com',
        comment: 'Numbers check out',
      }),
    ]);
    expect(financeOk.history).toEqual([
      expect.objectContaining({ type: 'approval', outcome: 'applied', source: 'approval' }),
    ]);
    expect(dealOf(financeOk).pendingMove).not.toBeNull();

    const legalOk = grant(tl, dealOf(financeOk), 'legal');
    const won = dealOf(legalOk);
    expect(legalOk).toMatchObject({ outcome: 'applied', moved: true, reasons: [] });
    // The move happened when the last approval was granted, after the CRM asked for it: a CRM change stamped
    // in between (the set-back's late echo) is older than the deal's stage and stale.
    const grantedAt = legalOk.history.at(-1)?.at;
    expect(won).toMatchObject({ stage: 'closed_won', status: 'won', pendingMove: null, stageEventAt: grantedAt });
    expect(Date.parse(won.stageEventAt)).toBeGreaterThan(Date.parse(moveAt));
    expect(won.visit).toBe(waiting.visit + 1);
    expect(legalOk.history.map((h) => [h.type, h.outcome, h.from, h.to])).toEqual([
      ['approval', 'applied', 'deliver', null],
      ['move', 'applied', 'deliver', 'closed_won'],
    ]);
    expect(legalOk.history[1]?.eventId).toBe(waiting.pendingMove?.eventId);
  });

  it('moves at once when the approvals were granted before the move', () => {
    const tl = new Timeline();
    let deal = dealIn('deliver', tl);
    deal = dealOf(grant(tl, deal, 'legal'));
    deal = dealOf(grant(tl, deal, 'finance'));
    const d = send(tl, deal, 'closed_won', EXIT_FIELDS.deliver);
    expect(d).toMatchObject({ outcome: 'applied', moved: true, requested: [] });
  });

  it('refuses the pending move when the exit criteria broke before the last approval', () => {
    const tl = new Timeline();
    let deal = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    deal = dealOf(grant(tl, deal, 'finance'));
    deal = dealOf(send(tl, deal, undefined, { contractSigned: 'false' }));
    const d = grant(tl, deal, 'legal');
    expect(d).toMatchObject({ outcome: 'rejected', moved: false });
    expect(codes(d)).toEqual(['EXIT_CRITERIA_UNMET']);
    expect(reason(d, 'EXIT_CRITERIA_UNMET')?.missing).toEqual(['contractSigned']);
    expect(dealOf(d)).toMatchObject({ stage: 'deliver', pendingMove: null });
    expect(dealOf(d).approvals.find((a) => a.role === 'legal')?.status).toBe('approved');
    expect(d.history.map((h) => [h.type, h.outcome])).toEqual([
      ['approval', 'applied'],
      ['move', 'rejected'],
    ]);
  });

  it('cancels the pending move on a rejection and tells why', () => {
    const tl = new Timeline();
    const waiting = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    const d = grant(tl, waiting, 'legal', false, 'Clause 7 is missing');
    expect(d).toMatchObject({ outcome: 'rejected', moved: false });
    expect(d.reasons).toEqual([
      expect.objectContaining({
        code: 'APPROVAL_REJECTED',
        role: 'legal',
        decidedBy: 'legal@example.com',
        comment: 'Clause 7 is missing',
        message: expect.stringContaining('Clause 7 is missing'),
      }),
    ]);
    expect(dealOf(d)).toMatchObject({ stage: 'deliver', pendingMove: null });
    expect(d.ended).toEqual([expect.objectContaining({ role: 'legal', status: 'rejected' })]);
    expect(pendingRoles(dealOf(d))).toEqual(['finance']);
    expect(d.history.map((h) => [h.type, h.outcome, h.to])).toEqual([
      ['approval', 'rejected', null],
      ['move', 'rejected', 'closed_won'],
    ]);
  });

  it('records a rejection without a pending move as a refusal, moving nothing', () => {
    const tl = new Timeline();
    const d = grant(tl, dealIn('deliver', tl), 'finance', false, 'Wrong entity');
    expect(d).toMatchObject({ outcome: 'rejected', moved: false });
    expect(codes(d)).toEqual(['APPROVAL_REJECTED']);
    expect(dealOf(d).stage).toBe('deliver');
  });

  it('asks again after a rejection, but only the role that is not already waiting', () => {
    const tl = new Timeline();
    let deal = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    deal = dealOf(grant(tl, deal, 'legal', false, 'Clause 7 is missing'));
    const d = send(tl, deal, 'closed_won');
    expect(d.outcome).toBe('pending_approval');
    expect(d.requested).toEqual([
      expect.objectContaining({ role: 'legal', kind: 'exit', stage: 'deliver', status: 'pending' }),
    ]);
    expect(reason(d, 'APPROVAL_PENDING')?.roles).toEqual(['finance', 'legal']);
    expect(pendingRoles(dealOf(d))).toEqual(['finance', 'legal']);
  });

  it('asks the sales manager for a discount above 20%, and moves once granted', () => {
    const tl = new Timeline();
    const deal = dealIn('propose', tl);
    const d = send(tl, deal, 'negotiate', { ...EXIT_FIELDS.propose, discountPercent: '25' });
    expect(d.requested).toEqual([
      expect.objectContaining({
        role: 'sales_manager',
        kind: 'exit',
        stage: 'propose',
        reason: "Discounts above 20% need a sales manager's approval",
      }),
    ]);
    expect(dealOf(d).pendingMove?.to).toBe('negotiate');
    const ok = grant(tl, dealOf(d), 'sales_manager');
    expect(ok).toMatchObject({ outcome: 'applied', moved: true });
    expect(dealOf(ok).stage).toBe('negotiate');
  });

  it('cancels the pending approvals of a stage the deal leaves', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    const ctx = tl.ctx();
    const d = decideEvent(pipeline, deal, stageEvent(tl, 'negotiate'), ctx);
    expect(d).toMatchObject({ outcome: 'applied', moved: true });
    expect(d.ended.map((a) => [a.role, a.status, a.decidedAt])).toEqual([
      ['finance', 'cancelled', ctx.now],
      ['legal', 'cancelled', ctx.now],
    ]);
    expect(dealOf(d).pendingMove).toBeNull();
    expect(pendingRoles(dealOf(d))).toEqual([]);
  });

  it('does not count approvals granted during an earlier visit of the stage', () => {
    const tl = new Timeline();
    let deal = dealIn('deliver', tl);
    deal = dealOf(grant(tl, deal, 'finance'));
    deal = dealOf(grant(tl, deal, 'legal'));
    deal = dealOf(send(tl, deal, 'negotiate'));
    const back = send(tl, deal, 'deliver');
    expect(back.requested.map((a) => a.role)).toEqual(['finance', 'legal']);
    expect(send(tl, dealOf(back), 'closed_won', EXIT_FIELDS.deliver).outcome).toBe('pending_approval');
  });

  it('refuses to decide an approval twice or one the deal does not have', () => {
    const tl = new Timeline();
    const deal = dealOf(grant(tl, dealIn('deliver', tl), 'finance'));
    const decided = deal.approvals.find((a) => a.role === 'finance');
    const input = { approvalId: decided?.approvalId ?? '', approve: true, decidedBy: 'x', comment: null };
    expect(() => decideApproval(pipeline, deal, input, tl.ctx())).toThrow(ApprovalNotPendingError);
    expect(() => decideApproval(pipeline, deal, { ...input, approvalId: 'nope' }, tl.ctx())).toThrow(
      expect.objectContaining({ name: 'ApprovalNotPendingError', approval: null }),
    );
  });
});

describe('expireApproval', () => {
  it('cancels the pending move that needs the expired approval', () => {
    const tl = new Timeline();
    const deal = dealOf(send(tl, dealIn('deliver', tl), 'closed_won', EXIT_FIELDS.deliver));
    const finance = deal.approvals.find((a) => a.role === 'finance');
    const ctx = tl.ctx();
    const d = expireApproval(pipeline, deal, finance?.approvalId ?? '', ctx);
    expect(d).toMatchObject({ outcome: 'rejected', moved: false });
    expect(codes(d)).toEqual(['APPROVAL_EXPIRED']);
    expect(reason(d, 'APPROVAL_EXPIRED')).toMatchObject({ role: 'finance', approvalId: finance?.approvalId });
    expect(d.ended).toEqual([expect.objectContaining({ role: 'finance', status: 'expired', decidedAt: ctx.now })]);
    expect(dealOf(d)).toMatchObject({ stage: 'deliver', pendingMove: null, updatedAt: ctx.now });

    const again = send(tl, dealOf(d), 'closed_won');
    expect(again.requested).toEqual([expect.objectContaining({ role: 'finance', kind: 'exit' })]);
  });

  it('expires an approval no move waits for without refusing anything', () => {
    const tl = new Timeline();
    const deal = dealIn('deliver', tl);
    const legal = deal.approvals.find((a) => a.role === 'legal');
    const d = expireApproval(pipeline, deal, legal?.approvalId ?? '', tl.ctx());
    expect(d.outcome).toBe('applied');
    expect(d.ended.map((a) => a.status)).toEqual(['expired']);
    expect(d.history).toEqual([expect.objectContaining({ type: 'approval', outcome: 'applied' })]);
  });

  it('leaves a decided approval alone: duplicate', () => {
    const tl = new Timeline();
    const deal = dealOf(grant(tl, dealIn('deliver', tl), 'finance'));
    const finance = deal.approvals.find((a) => a.role === 'finance');
    const d = expireApproval(pipeline, deal, finance?.approvalId ?? '', tl.ctx());
    expect(d).toMatchObject({ outcome: 'duplicate', history: [], requested: [], ended: [], moved: false });
    expect(d.deal).toEqual(deal);
  });

  it('refuses an approval the deal does not have', () => {
    const tl = new Timeline();
    expect(() => expireApproval(pipeline, dealIn('deliver', tl), 'nope', tl.ctx())).toThrow(ApprovalNotPendingError);
  });
});

describe('guidance helpers', () => {
  it('evaluates conditional exit approvals on the fields', () => {
    const propose = requireStage(config, 'propose');
    expect(requiredExitApprovals(propose, { discountPercent: '21' }).map((a) => a.role)).toEqual(['sales_manager']);
    expect(requiredExitApprovals(propose, { discountPercent: '20' })).toEqual([]);
    expect(requiredExitApprovals(propose, {})).toEqual([]);
    expect(requiredExitApprovals(requireStage(config, 'deliver'), {}).map((a) => a.role)).toEqual(['finance', 'legal']);
  });

  it('lists the exit criteria still open', () => {
    const identify = requireStage(config, 'identify');
    expect(openExitCriteria(identify, { decisionMaker: 'Jane' }).map((c) => c.field)).toEqual(['firstMeetingDate']);
    expect(openExitCriteria(identify, EXIT_FIELDS.identify ?? {})).toEqual([]);
  });
});

describe('approval history entries', () => {
  it('name the request that ended: its id, role, status and who decided', () => {
    const tl = new Timeline();
    const deal = dealIn('deliver', tl);
    const request = deal.approvals.find((a) => a.role === 'legal' && a.status === 'pending');
    const decision = grant(tl, deal, 'legal', false, 'Missing the signed SOW');
    const trail = decision.history.find((h) => h.type === 'approval');
    expect(trail?.approval).toEqual({
      approvalId: request?.approvalId,
      role: 'legal',
      status: 'rejected',
      decidedBy: 'legal@example.com',
    });
  });
});
