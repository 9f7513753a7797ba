import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ApproverConfig } from '../../../functions/core/approver-config.ts';
import {
  approverTargets,
  delegationActive,
  nextRoutingChange,
  routeApproval,
} from '../../../functions/core/approver-routing.ts';
import { formatReroutedApprovals, reroutedApprovals } from '../../../functions/core/config/plan-approvers.ts';
import { parsePipelineConfig } from '../../../functions/core/config/read.ts';
import type { Approval, Deal, StageEvent } from '../../../functions/core/deal.ts';
import { decideApproval, decideEvent, rerouteDeal } from '../../../functions/core/decide/entry-points.ts';
import { InvalidConfigError } from '../../../functions/core/errors.ts';
import { migrateDeal } from '../../../functions/core/migrate.ts';
import type { PipelineConfig, VersionedPipeline } from '../../../functions/core/pipeline-config.ts';
import { dealIn, pipeline, Timeline } from './scenario.ts';

const DEFAULT_TEXT = readFileSync(
  fileURLToPath(new URL('../../../stage-config/default.yaml', import.meta.url)),
  'utf8',
);

const legal: ApproverConfig = {
  name: 'Legal',
  email: 'legal@example.com',
  delegates: [{ to: 'counsel@example.com', from: '2026-12-01', until: '2026-12-10' }],
};

/** The default pipeline with its approvers replaced (a new version). */
function withApprovers(approvers: PipelineConfig['approvers']): VersionedPipeline {
  const config = structuredClone(pipeline.config);
  config.approvers = { ...config.approvers, ...approvers };
  return { config, version: `v-${JSON.stringify(approvers).length}` };
}

function pendingOf(deal: Deal, role: string): Approval {
  const approval = deal.approvals.findLast((a) => a.role === role && a.status === 'pending');
  if (!approval) throw new Error(`no pending ${role} approval`);
  return approval;
}

describe('whom a role asks', () => {
  it('asks the one person, every member of a group, or the address the deal field names', () => {
    const now = '2026-11-27T09:00:00Z';
    expect(approverTargets({ name: 'Finance', email: 'finance@example.com' }, {}, now)).toEqual([
      { email: 'finance@example.com', name: 'Finance', onBehalfOf: null },
    ]);
    const group = { name: 'Finance', members: ['ana@example.com', 'ben@example.com'] };
    expect(approverTargets(group, {}, now).map((t) => t.email)).toEqual(['ana@example.com', 'ben@example.com']);
    const named = { name: 'Sales manager', email: 'sm@example.com', fromField: 'managerEmail' };
    expect(approverTargets(named, { managerEmail: ' maria@example.com ' }, now)[0]?.email).toBe('maria@example.com');
    for (const invalid of ['maria', '', 42, null]) {
      expect(approverTargets(named, { managerEmail: invalid }, now)[0]?.email).toBe('sm@example.com');
    }
  });

  it('asks the delegate instead from the first day of the delegation through its last', () => {
    const [delegation] = legal.delegates ?? [];
    if (!delegation) throw new Error('fixture');
    expect(delegationActive(delegation, '2026-11-30T23:59:59Z')).toBe(false);
    expect(delegationActive(delegation, '2026-12-01T00:00:00Z')).toBe(true);
    expect(delegationActive(delegation, '2026-12-10T23:59:59Z')).toBe(true);
    expect(delegationActive(delegation, '2026-12-11T00:00:00Z')).toBe(false);
    expect(approverTargets(legal, {}, '2026-12-05T00:00:00Z')).toEqual([
      {
        email: 'counsel@example.com',
        name: null,
        onBehalfOf: { email: 'legal@example.com', name: 'Legal' },
      },
    ]);
    expect(nextRoutingChange(legal, '2026-11-27T00:00:00Z')).toBe('2026-12-01T00:00:00.000Z');
    expect(nextRoutingChange(legal, '2026-12-01T00:00:00Z')).toBe('2026-12-11T00:00:00.000Z');
    expect(nextRoutingChange(legal, '2026-12-11T00:00:00Z')).toBeNull();
  });

  it('withdraws the requests of people no longer asked and asks the new ones, keeping decided seats', () => {
    const approval = {
      approvalId: 'a',
      expiresAt: '2027-01-01T00:00:00Z',
    } as Approval;
    routeApproval(approval, legal, {}, '2026-11-30T00:00:00Z');
    expect(approval.asks?.map((a) => `${a.askId}:${a.email}:${a.status}`)).toEqual(['1:legal@example.com:pending']);
    expect(approval.rerouteAt).toBe('2026-12-01T00:00:00.000Z');
    const start = routeApproval(approval, legal, {}, '2026-12-01T00:00:00Z');
    expect(start.withdrawn.map((a) => a.email)).toEqual(['legal@example.com']);
    expect(start.asked.map((a) => a.email)).toEqual(['counsel@example.com']);
    const end = routeApproval(approval, legal, {}, '2026-12-11T00:00:00Z');
    expect(end.withdrawn.map((a) => a.email)).toEqual(['counsel@example.com']);
    expect(end.asked.map((a) => `${a.askId}:${a.email}`)).toEqual(['3:legal@example.com']);
    expect(approval.rerouteAt).toBeUndefined();
  });
});

describe('deciding a group approval', () => {
  const group = (decide: 'any' | 'all') =>
    withApprovers({ finance: { name: 'Finance', members: ['ana@example.com', 'ben@example.com'], decide } });

  function atDeliver(on: VersionedPipeline, tl: Timeline) {
    const deal = dealIn('negotiate', tl);
    return rerouteOnto(on, deal, tl);
  }

  /** The deal moved on to `on` and into deliver, so its approvals are asked under `on`. */
  function rerouteOnto(on: VersionedPipeline, deal: Deal, tl: Timeline): Deal {
    const migrated = migrateDeal(pipeline, on, deal, tl.ctx()).deal as Deal;
    const event: StageEvent = {
      source: 'generic',
      eventId: 'e-deliver',
      pipeline: 'default',
      dealId: deal.dealId,
      stage: 'deliver',
      occurredAt: tl.at(),
      fields: { signaturePackageReady: true, signatureDate: '2026-12-01', kickoffDate: '2026-12-15' },
    };
    return decideEvent(on, migrated, event, tl.ctx()).deal as Deal;
  }

  it('any: the first member decides for the role; the other member cannot decide it again', () => {
    const tl = new Timeline();
    const on = group('any');
    const deal = atDeliver(on, tl);
    const finance = pendingOf(deal, 'finance');
    expect(finance.asks?.map((a) => a.email)).toEqual(['ana@example.com', 'ben@example.com']);
    const decided = decideApproval(
      on,
      deal,
      { approvalId: finance.approvalId, askId: '2', approve: false, decidedBy: '', comment: 'No' },
      tl.ctx(),
    );
    const after = (decided.deal as Deal).approvals.find((a) => a.approvalId === finance.approvalId);
    expect(after).toMatchObject({ status: 'rejected', decidedBy: 'ben@example.com' });
    expect(() =>
      decideApproval(
        on,
        decided.deal as Deal,
        { approvalId: finance.approvalId, askId: '1', approve: true, decidedBy: '', comment: null },
        tl.ctx(),
      ),
    ).toThrow(/not pending/);
  });

  it('all: granted once every member approved; one rejection rejects', () => {
    const tl = new Timeline();
    const on = group('all');
    const deal = atDeliver(on, tl);
    const { approvalId } = pendingOf(deal, 'finance');
    const vote = (from: Deal, askId: string, approve: boolean) =>
      decideApproval(on, from, { approvalId, askId, approve, decidedBy: '', comment: approve ? null : 'No' }, tl.ctx());
    const first = vote(deal, '1', true);
    expect(pendingOf(first.deal as Deal, 'finance').asks?.map((a) => a.status)).toEqual(['approved', 'pending']);
    expect(first.history[0]).toMatchObject({
      type: 'approval',
      approval: { status: 'pending', decidedBy: 'ana@example.com' },
    });
    expect(() => vote(first.deal as Deal, '1', true)).toThrow(/not pending/);
    const granted = vote(first.deal as Deal, '2', true).deal as Deal;
    expect(granted.approvals.find((a) => a.approvalId === approvalId)).toMatchObject({
      status: 'approved',
      decidedBy: 'ana@example.com, ben@example.com',
    });
    const rejected = vote(first.deal as Deal, '2', false).deal as Deal;
    expect(rejected.approvals.find((a) => a.approvalId === approvalId)?.status).toBe('rejected');
  });

  it('a delegation that starts while the approval is pending asks the delegate on the next routing', () => {
    const tl = new Timeline(Date.UTC(2026, 10, 30, 12));
    const on = withApprovers({ legal });
    const deal = atDeliver(on, tl);
    expect(pendingOf(deal, 'legal').rerouteAt).toBe('2026-12-01T00:00:00.000Z');
    const ctx = { ...tl.ctx(), now: '2026-12-01T00:00:00.000Z' };
    const rerouted = rerouteDeal(on, deal, ctx);
    expect(rerouted.outcome).toBe('applied');
    expect(pendingOf(rerouted.deal as Deal, 'legal').asks?.map((a) => `${a.email}:${a.status}`)).toEqual([
      'legal@example.com:withdrawn',
      'counsel@example.com:pending',
    ]);
    expect(rerouteDeal(on, rerouted.deal as Deal, ctx).outcome).toBe('duplicate');
  });
});

describe('config:plan of approver changes', () => {
  it('lists each pending approval asked of other people, with who is asked now and after', () => {
    const tl = new Timeline();
    const deal = dealIn('deliver', tl);
    const next = withApprovers({ finance: { name: 'Finance', members: ['ana@example.com', 'ben@example.com'] } });
    const rerouted = reroutedApprovals(next.config, [deal], tl.at());
    expect(rerouted).toEqual([
      {
        dealId: deal.dealId,
        approvalId: pendingOf(deal, 'finance').approvalId,
        role: 'finance',
        askedNow: ['Finance <finance@example.com>'],
        askedAfter: ['ana@example.com', 'ben@example.com'],
      },
    ]);
    expect(formatReroutedApprovals(rerouted)).toEqual([
      'Pending approvals asked of other people: 1',
      `  ${deal.dealId} finance: Finance <finance@example.com> → ana@example.com, ben@example.com`,
    ]);
    expect(reroutedApprovals(pipeline.config, [deal], tl.at())).toEqual([]);
  });
});

describe('config:check of approvers', () => {
  function problems(approvers: string): string[] {
    const text = DEFAULT_TEXT.replace(
      /approvers:\n(?: {2}.*\n)+/,
      `approvers:\n${approvers}\n  sales_manager:\n    name: Sales manager\n    email: sales-manager@example.com\n`,
    );
    try {
      parsePipelineConfig(text, 'default.yaml');
    } catch (error) {
      if (error instanceof InvalidConfigError) return error.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
      throw error;
    }
    return [];
  }

  it('accepts a group, a delegation, an escalation and a deal field', () => {
    expect(
      problems(
        [
          '  finance:',
          '    name: Finance',
          '    members: [ana@example.com, ben@example.com]',
          '    decide: all',
          '    escalateTo: cfo@example.com',
          '    delegates: [{ to: tom@example.com, for: ana@example.com, from: 2026-12-01, until: 2026-12-10 }]',
          '  legal:',
          '    name: Legal',
          '    email: legal@example.com',
          '    fromField: counselEmail',
          '    delegates:',
          '      - { to: counsel@example.com, from: "2026-12-01T09:00:00Z", until: "2026-12-01T17:00:00Z" }',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('locates every mistake with a fix', () => {
    const found = problems(
      [
        '  finance:',
        '    name: Finance',
        '    email: finance@example.com',
        '    decide: all',
        '    delegates: [{ to: tom@example.com, from: 2026-12-10, until: 2026-12-01 }]',
        '  legal:',
        '    name: Legal',
        '    members: [lea@example.com, lea@example.com]',
        '    delegates: [{ to: counsel@example.com, from: 2026-13-01, until: 2026-12-01 }]',
      ].join('\n'),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^16 approvers\.finance\.decide: `decide` applies to a group/),
        expect.stringMatching(/^17 approvers\.finance\.delegates\[0\]\.until: the delegation ends/),
        expect.stringMatching(/^20 approvers\.legal\.members\[1\]: 'lea@example.com' is listed twice/),
        expect.stringMatching(/^21 approvers\.legal\.delegates\[0\]\.from: this is not a date on the calendar/),
      ]),
    );
  });
});
