import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requiredExitApprovals } from '../../../functions/core/approval-gate.ts';
import { openExitCriteria } from '../../../functions/core/criteria.ts';
import type { Deal, Decision, DecisionContext, Fields, StageEvent } from '../../../functions/core/deal.ts';
import { decideApproval, decideEvent, expireApproval } from '../../../functions/core/decide/entry-points.ts';
import { requireStage, stageIndex, statusOf } from '../../../functions/core/stages.ts';
import { dealIn, EXIT_FIELDS, pipeline, stageEvent, Timeline, timing } from './scenario.ts';

const { config } = pipeline;
const stageKeys = config.stages.map((s) => s.key);
const criterionFields = [
  ...new Set(
    config.stages.flatMap((s) => [
      ...s.exitCriteria.map((c) => c.field),
      ...s.entryCriteria.map((c) => c.field),
      ...s.exitApprovals.flatMap((a) => (a.when === undefined ? [] : [a.when.field])),
    ]),
  ),
];

/** Values that meet some criteria and fail others, in the typed and the string forms CRMs send. */
const fieldValue = fc.constantFrom<unknown>(
  null,
  '',
  ' ',
  'Jane',
  'true',
  true,
  'false',
  false,
  '2026-11-20',
  '2026-02-30',
  15,
  '25',
);
const fields: fc.Arbitrary<Fields> = fc.oneof(
  { arbitrary: fc.dictionary(fc.constantFrom(...criterionFields), fieldValue, { maxKeys: 6 }), weight: 1 },
  {
    arbitrary: fc.constantFrom(...Object.values(EXIT_FIELDS), { lostReason: 'No budget' }, { discountPercent: '30' }),
    weight: 2,
  },
);

interface EventCommand {
  kind: 'event';
  stage: string | undefined;
  fields: Fields;
  /** Minutes after the timeline's start: low values arrive older than what the deal has seen. */
  minute: number;
}
interface ApprovalCommand {
  kind: 'approve' | 'reject' | 'expire';
  /** Which of the deal's pending approvals, modulo their number. */
  pick: number;
}
type Command = EventCommand | ApprovalCommand;

const eventCommand: fc.Arbitrary<EventCommand> = fc.record({
  kind: fc.constant('event'),
  stage: fc.option(fc.constantFrom(...stageKeys, 'bogus'), { nil: undefined }),
  fields,
  minute: fc.integer({ min: 0, max: 400 }),
});
const approvalCommand: fc.Arbitrary<ApprovalCommand> = fc.record({
  kind: fc.constantFrom('approve', 'reject', 'expire'),
  pick: fc.nat(),
});
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: eventCommand, weight: 3 },
  { arbitrary: approvalCommand, weight: 1 },
);
const anyStage = fc.constantFrom(...stageKeys);
const openStage = fc.constantFrom(...stageKeys.filter((k) => requireStage(config, k).closed === undefined));

interface Step {
  before: Deal | null;
  event: StageEvent | null;
  decision: Decision;
}

/** One command's decision on the deal (null: not created yet); null when an approval command finds nothing pending. */
function decide(tl: Timeline, deal: Deal | null, cmd: Command, ctx: DecisionContext): Step | null {
  if (cmd.kind === 'event') {
    const event = stageEvent(tl, cmd.stage, cmd.fields, { occurredAt: tl.atMinute(cmd.minute) });
    return { before: deal, event, decision: decideEvent(pipeline, deal, event, ctx) };
  }
  const pending = deal?.approvals.filter((a) => a.status === 'pending') ?? [];
  const approval = pending[cmd.pick % Math.max(pending.length, 1)];
  if (deal === null || approval === undefined) return null;
  const { approvalId } = approval;
  const decision =
    cmd.kind === 'expire'
      ? expireApproval(pipeline, deal, approvalId, ctx)
      : decideApproval(
          pipeline,
          deal,
          { approvalId, approve: cmd.kind === 'approve', decidedBy: 'someone', comment: 'because' },
          ctx,
        );
  return { before: deal, event: null, decision };
}

/** Runs the commands from the deal (null: not created yet), checking each decision and that its input stayed intact. */
function run(tl: Timeline, start: Deal | null, commands: Command[], check: (step: Step) => void): void {
  let deal = start;
  for (const cmd of commands) {
    const snapshot = structuredClone(deal);
    const step = decide(tl, deal, cmd, tl.ctx());
    if (step === null) continue;
    check(step);
    expect(deal).toEqual(snapshot);
    deal = step.decision.deal ?? deal;
  }
}

const startingIn = (stage: fc.Arbitrary<string>) =>
  stage.map((key) => {
    const tl = new Timeline();
    return { tl, deal: dealIn(key, tl) };
  });

describe('transition rules hold for any sequence of events and approvals', () => {
  it('a closed deal never moves', () => {
    fc.assert(
      fc.property(
        startingIn(fc.constantFrom('closed_won', 'closed_lost')),
        fc.array(command, { maxLength: 20 }),
        (s, cmds) => {
          run(s.tl, s.deal, cmds, ({ decision }) => {
            expect(decision.moved).toBe(false);
            expect(decision.deal?.stage).toBe(s.deal.stage);
            expect(decision.outcome).not.toBe('pending_approval');
          });
        },
      ),
    );
  });

  it('no forward move applies with unmet exit criteria or a missing exit approval', () => {
    fc.assert(
      fc.property(startingIn(openStage), fc.array(command, { maxLength: 25 }), (s, cmds) => {
        run(s.tl, s.deal, cmds, ({ before, decision }) => {
          if (!decision.moved || before === null || decision.deal === null) return;
          const from = requireStage(config, before.stage);
          const to = requireStage(config, decision.deal.stage);
          const forward =
            to.closed === 'won' ||
            (to.closed === undefined && stageIndex(config, to.key) > stageIndex(config, from.key));
          if (!forward) return;
          const after = decision.deal;
          expect(openExitCriteria(from, after.fields)).toEqual([]);
          for (const need of requiredExitApprovals(from, after.fields)) {
            const granted = after.approvals.some(
              (a) =>
                a.role === need.role && a.stage === from.key && a.visit === before.visit && a.status === 'approved',
            );
            expect(granted, `${need.role} approved before leaving ${from.key}`).toBe(true);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('an older event never overrides a newer field value or stage', () => {
    fc.assert(
      fc.property(startingIn(anyStage), fc.array(command, { maxLength: 25 }), (s, cmds) => {
        run(s.tl, s.deal, cmds, ({ before, event, decision }) => {
          if (before === null || event === null || decision.deal === null) return;
          const after = decision.deal;
          for (const field of Object.keys(event.fields)) {
            const since = before.fieldTimes[field];
            if (since === undefined || Date.parse(since) <= Date.parse(event.occurredAt)) continue;
            expect(after.fields[field]).toEqual(before.fields[field]);
            expect(after.fieldTimes[field]).toBe(since);
          }
          if (Date.parse(event.occurredAt) < Date.parse(before.stageEventAt) && !before.heldMove) {
            expect(after.stage).toBe(before.stage);
            // Naming the current stage is a field update; naming another is a stale move.
            const otherStage =
              event.stage !== undefined && stageKeys.includes(event.stage) && event.stage !== before.stage;
            if (otherStage) expect(decision.outcome).toBe('stale');
          }
        });
      }),
    );
  });

  it('events in any order never put a deal in a stage the config does not have', () => {
    const shuffled = fc
      .array(fc.oneof(eventCommand, approvalCommand), { minLength: 1, maxLength: 20 })
      .chain((cmds) => fc.shuffledSubarray(cmds, { minLength: cmds.length, maxLength: cmds.length }));
    fc.assert(
      fc.property(shuffled, (cmds) => {
        run(new Timeline(), null, cmds, ({ decision }) => {
          if (decision.deal === null) return;
          expect(stageKeys).toContain(decision.deal.stage);
          expect(decision.deal.status).toBe(statusOf(requireStage(config, decision.deal.stage)));
        });
      }),
    );
  });
});

describe('decisions are functions of their inputs', () => {
  it('deciding the same input twice on the same deal gives the same decision', () => {
    fc.assert(
      fc.property(fc.option(anyStage, { nil: null }), command, (stage, cmd) => {
        const tl = new Timeline();
        const deal = stage === null ? null : dealIn(stage, tl);
        const ctx = (): DecisionContext => ({ now: '2026-12-01T00:00:00.000Z', newApprovalId: ids(), timing });
        const snapshot = structuredClone(deal);
        const first = decide(tl, deal, cmd, ctx());
        expect(decide(tl, deal, cmd, ctx())).toEqual(first);
        expect(deal).toEqual(snapshot);
      }),
    );
  });

  it('field-only events leave the same fields whatever order they arrive in', () => {
    const updates = fc.uniqueArray(fc.record({ minute: fc.integer({ min: 1, max: 400 }), fields }), {
      selector: (u) => u.minute,
      minLength: 1,
      maxLength: 12,
    });
    fc.assert(
      fc.property(
        updates.chain((us) =>
          fc.tuple(fc.constant(us), fc.shuffledSubarray(us, { minLength: us.length, maxLength: us.length })),
        ),
        ([inOrder, shuffled]) => {
          const settle = (us: typeof inOrder) => {
            const tl = new Timeline();
            let deal: Deal | null = null;
            for (const u of us) {
              const event = stageEvent(tl, undefined, u.fields, { occurredAt: tl.atMinute(u.minute) });
              deal = decideEvent(pipeline, deal, event, tl.ctx()).deal;
            }
            return { fields: deal?.fields, fieldTimes: deal?.fieldTimes, lastEventAt: deal?.lastEventAt };
          };
          expect(settle(shuffled)).toEqual(settle(inOrder));
        },
      ),
    );
  });
});

function ids(): () => string {
  let n = 0;
  return () => `fixed-${++n}`;
}
