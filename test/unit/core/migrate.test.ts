import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffConfigs, formatRolloutPlan, planRollout } from '../../../functions/core/config/plan.ts';
import { configVersion } from '../../../functions/core/config/read.ts';
import type { Deal } from '../../../functions/core/deal.ts';
import { migrateDeal, UnmappedRetiredStageError } from '../../../functions/core/migrate.ts';
import type { PipelineConfig, VersionedPipeline } from '../../../functions/core/pipeline-config.ts';
import { dealIn, EXIT_FIELDS, pipeline, Timeline } from './scenario.ts';

/** A new version of the default pipeline: `edit` changes a copy of its config. */
function nextVersion(edit: (config: PipelineConfig) => void): VersionedPipeline {
  const config = structuredClone(pipeline.config);
  edit(config);
  return { config, version: configVersion(config) };
}

const stage = (config: PipelineConfig, key: string) => {
  const found = config.stages.find((s) => s.key === key);
  if (!found) throw new Error(`no stage ${key}`);
  return found;
};

const withoutStage = (key: string, retiredTo?: string) =>
  nextVersion((config) => {
    config.stages = config.stages.filter((s) => s.key !== key);
    if (retiredTo) config.retiredStages = { [key]: retiredTo };
  });

const addTerritory = nextVersion((config) => {
  stage(config, 'identify').exitCriteria.push({ field: 'territory', require: 'present' });
});
const dropLegal = nextVersion((config) => {
  const deliver = stage(config, 'deliver');
  deliver.entryApprovals = deliver.entryApprovals.filter((role) => role !== 'legal');
  deliver.exitApprovals = deliver.exitApprovals.filter((a) => a.role !== 'legal');
});

const versions = new Map([[pipeline.version, pipeline]]);
const ctx = () => new Timeline(Date.UTC(2026, 11, 1)).ctx();
const NOW = '2026-12-01T00:00:00.000Z';

describe('migrateDeal', () => {
  const cases: {
    name: string;
    deal: () => Deal;
    next: VersionedPipeline;
    stage: string;
    cancelledRoles: string[];
    moved: boolean;
  }[] = [
    {
      name: 'a new criterion',
      deal: () => dealIn('identify'),
      next: addTerritory,
      stage: 'identify',
      cancelledRoles: [],
      moved: false,
    },
    {
      name: 'a dropped approval role',
      deal: () => dealIn('deliver'),
      next: dropLegal,
      stage: 'deliver',
      cancelledRoles: ['legal'],
      moved: false,
    },
    {
      name: 'a retired stage mapped to an existing one',
      deal: () => dealIn('propose'),
      next: withoutStage('propose', 'qualify'),
      stage: 'qualify',
      cancelledRoles: [],
      moved: true,
    },
    {
      name: 'a retired stage with pending approvals',
      deal: () => dealIn('deliver'),
      next: withoutStage('deliver', 'negotiate'),
      stage: 'negotiate',
      cancelledRoles: ['finance', 'legal'],
      moved: true,
    },
  ];
  it.each(cases)(
    'moves an open deal to the new version: $name',
    ({ deal, next, stage: key, cancelledRoles, moved }) => {
      const before = deal();
      const decision = migrateDeal(pipeline, next, before, ctx());
      expect(decision.outcome).toBe('applied');
      expect(decision.deal).toMatchObject({ configVersion: next.version, stage: key, status: 'open' });
      expect(decision.ended.map((a) => [a.role, a.status])).toEqual(cancelledRoles.map((role) => [role, 'cancelled']));
      expect(decision.moved).toBe(moved);
      expect(decision.history).toEqual([
        expect.objectContaining({ type: 'config', from: pipeline.version, to: next.version, outcome: 'applied' }),
      ]);
      if (moved) expect(decision.history[0]?.stage).toEqual({ from: before.stage, to: key });
      expect(decision.deal?.fields).toEqual(before.fields);
    },
  );

  it('keeps the approvals the stage still needs', () => {
    const decision = migrateDeal(pipeline, dropLegal, dealIn('deliver'), ctx());
    const pending = decision.deal?.approvals.filter((a) => a.status === 'pending').map((a) => a.role);
    expect(pending).toEqual(['finance']);
  });

  it('leaves closed deals and deals already on the new version alone', () => {
    for (const deal of [dealIn('closed_won'), dealIn('closed_lost')]) {
      expect(migrateDeal(pipeline, addTerritory, deal, ctx())).toMatchObject({
        outcome: 'duplicate',
        deal,
        history: [],
      });
    }
    const open = dealIn('qualify');
    expect(migrateDeal(pipeline, pipeline, open, ctx())).toMatchObject({ outcome: 'duplicate', deal: open });
  });

  it('refuses a removed stage without a retiredStages entry, naming the stage and the deal', () => {
    const deal = dealIn('propose');
    const error = (() => {
      try {
        migrateDeal(pipeline, withoutStage('propose'), deal, ctx());
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnmappedRetiredStageError);
    expect((error as UnmappedRetiredStageError).stages).toEqual([{ stage: 'propose', dealIds: [deal.dealId] }]);
    expect((error as Error).message).toMatch(/removes 'propose' \(1 open deal: D-1001\) — map each .* retiredStages/);
  });

  it('never touches a closed deal, and migrating twice is migrating once (property)', () => {
    const stages = pipeline.config.stages.map((s) => s.key);
    const edits = fc.constantFrom(
      addTerritory,
      dropLegal,
      withoutStage('propose', 'qualify'),
      withoutStage('negotiate', 'propose'),
    );
    fc.assert(
      fc.property(fc.constantFrom(...stages), edits, (key, next) => {
        const deal = dealIn(key);
        const once = migrateDeal(pipeline, next, deal, ctx());
        if (deal.status !== 'open') expect(once.deal).toBe(deal);
        if (once.deal === null) throw new Error('no deal');
        const twice = migrateDeal(next, next, once.deal, ctx());
        expect(twice).toMatchObject({ outcome: 'duplicate', history: [], ended: [] });
        expect(twice.deal).toEqual(once.deal);
      }),
      { numRuns: 60 },
    );
  });
});

describe('the rollout plan', () => {
  it('shows the CRM pipelines a pipeline manages as they change', () => {
    const next = nextVersion((config) => {
      if (config.crm.hubspot) config.crm.hubspot.pipelines = ['default', 'renewals'];
      if (config.crm.pipedrive) config.crm.pipedrive.pipelines = [];
      config.crm.salesforce = {
        ...(config.crm.salesforce ?? { stages: {}, fields: {}, writeBack: true }),
        recordTypes: ['012A'],
      };
    });
    const text = formatRolloutPlan(planRollout(pipeline, next, [], versions, NOW));
    expect(text).toMatch(/crm\.hubspot\.pipelines/);
    expect(text).toMatch(/renewals/);
    expect(text).toMatch(/crm\.pipedrive\.pipelines/);
    expect(text).toMatch(/crm\.salesforce\.recordTypes/);
  });

  it('lists stage, criterion, approval, guidance and setting changes', () => {
    const next = nextVersion((config) => {
      stage(config, 'identify').exitCriteria.push({ field: 'territory', require: 'present' });
      stage(config, 'qualify').definition = 'Qualify the buyer.';
      const deliver = stage(config, 'deliver');
      deliver.entryApprovals = ['finance'];
      config.rules.allowSkips = true;
      config.approvers.finance = { name: 'Finance', email: 'ar@example.com' };
      config.stages = config.stages.filter((s) => s.key !== 'propose');
      config.retiredStages = { propose: 'qualify' };
    });
    const diff = diffConfigs(pipeline, next);
    expect(diff.stages).toEqual([
      {
        stage: 'identify',
        status: 'changed',
        changes: [{ change: 'added', what: 'exit criterion territory is filled in' }],
      },
      {
        stage: 'qualify',
        status: 'changed',
        changes: [
          expect.objectContaining({ change: 'changed', what: 'guidance definition', after: '"Qualify the buyer."' }),
        ],
      },
      { stage: 'propose', status: 'removed', movesTo: 'qualify', changes: [] },
      { stage: 'deliver', status: 'changed', changes: [{ change: 'removed', what: 'entry approval legal' }] },
    ]);
    expect(diff.settings).toEqual(
      expect.arrayContaining([
        { change: 'changed', what: 'rules.allowSkips', before: 'false', after: 'true' },
        {
          change: 'changed',
          what: 'approvers.finance.email',
          before: '"finance@example.com"',
          after: '"ar@example.com"',
        },
        { change: 'added', what: 'retiredStages.propose', after: '"qualify"' },
      ]),
    );
  });

  it('lists a renamed stage once, under its old key, with what differs in the stage that replaces it', () => {
    const next = nextVersion((config) => {
      const propose = stage(config, 'propose');
      config.stages = config.stages.map((s) =>
        s.key === 'propose' ? { ...propose, key: 'proposal', name: 'Proposal' } : s,
      );
      config.retiredStages = { propose: 'proposal' };
    });
    const diff = diffConfigs(pipeline, next);
    const listed = diff.stages.filter((s) => s.stage === 'propose' || s.stage === 'proposal');
    expect(listed).toEqual([
      {
        stage: 'propose',
        status: 'renamed',
        movesTo: 'proposal',
        changes: [expect.objectContaining({ change: 'changed', what: 'guidance name', after: '"Proposal"' })],
      },
    ]);
  });

  it('counts the open deals per stage, names the newly blocked ones and the approvals to cancel', () => {
    const tl = new Timeline();
    const ready: Deal = { ...dealIn('identify', tl), dealId: 'D-READY', fields: { ...EXIT_FIELDS.identify } };
    const notReady = { ...dealIn('identify', tl), dealId: 'D-NOT-READY' };
    const deliver = { ...dealIn('deliver', tl), dealId: 'D-DELIVER' };
    const won = { ...dealIn('closed_won', tl), dealId: 'D-WON' };
    const next = nextVersion((config) => {
      stage(config, 'identify').exitCriteria.push({ field: 'territory', require: 'present' });
      const deliverStage = stage(config, 'deliver');
      deliverStage.entryApprovals = ['finance'];
      deliverStage.exitApprovals = deliverStage.exitApprovals.filter((a) => a.role !== 'legal');
    });
    const plan = planRollout(
      pipeline,
      next,
      [ready, notReady, deliver, won].filter((d) => d.status === 'open'),
      versions,
      NOW,
    );
    expect(plan).toMatchObject({ moving: 3, cancelledApprovals: 1, unmapped: [], decisionNeeded: null });
    expect(plan.stages).toEqual([
      { stage: 'identify', open: 2, newlyBlocked: 1, newlyBlockedDeals: ['D-READY'], cancelledApprovals: 0 },
      { stage: 'deliver', open: 1, newlyBlocked: 0, newlyBlockedDeals: [], cancelledApprovals: 1 },
    ]);
    expect(formatRolloutPlan(plan)).toMatch(/identify\s+2\s+1 \(D-READY\)/);
  });

  it('needs a decision for open deals in a removed stage without a mapping, and none with new-deals-only', () => {
    const deal = { ...dealIn('propose'), dealId: 'D-PROPOSE' };
    const plan = planRollout(pipeline, withoutStage('propose'), [deal], versions, NOW);
    expect(plan.unmapped).toEqual([{ stage: 'propose', dealIds: ['D-PROPOSE'] }]);
    expect(plan.decisionNeeded).toMatch(/removes 'propose' \(1 open deal: D-PROPOSE\)/);
    expect(plan.stages[0]).toMatchObject({ stage: 'propose', movesTo: null });
    const kept = nextVersion((config) => {
      config.stages = config.stages.filter((s) => s.key !== 'propose');
      config.rollout = 'new-deals-only';
    });
    expect(planRollout(pipeline, kept, [deal], versions, NOW)).toMatchObject({ moving: 0, decisionNeeded: null });
  });
});
