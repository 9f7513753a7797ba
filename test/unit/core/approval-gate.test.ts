import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requiredExitApprovals } from '../../../functions/core/approval-gate.ts';
import { readCondition } from '../../../functions/core/criteria.ts';
import type { Deal, Decision } from '../../../functions/core/deal.ts';
import { decideApproval } from '../../../functions/core/decide/entry-points.ts';
import { ApprovalNotPendingError } from '../../../functions/core/errors.ts';
import { requireStage } from '../../../functions/core/stages.ts';
import { reviewPage } from '../../../functions/views/approval-pages.ts';
import { dealIn, EXIT_FIELDS, grant, pipeline, send, Timeline } from './scenario.ts';

const { config } = pipeline;
const propose = requireStage(config, 'propose');
const dealOf = (d: Decision): Deal => {
  if (d.deal === null) throw new Error(`no deal in ${JSON.stringify(d)}`);
  return d.deal;
};

/** Values a CRM or a careless sender may put in a numeric field, none of which reads as a plain number. */
const UNREADABLE_DISCOUNTS: unknown[] = ['30%', '30,5', '1e999', '0x1E', '３０', [30], { value: 30 }, true, 'thirty'];

describe('a condition that cannot read its field fails closed', () => {
  it.each(UNREADABLE_DISCOUNTS.map((value) => [JSON.stringify(value), value]))(
    'discountPercent %s asks the sales manager and says why',
    (_label, discountPercent) => {
      const tl = new Timeline();
      const d = send(tl, dealIn('propose', tl), 'negotiate', { ...EXIT_FIELDS.propose, discountPercent });
      expect(d.outcome).toBe('pending_approval');
      expect(dealOf(d).stage).toBe('propose');
      expect(d.requested.map((a) => a.role)).toEqual(['sales_manager']);
      expect(d.requested[0]?.reason).toContain('could not be read as a number');
      expect(d.reasons).toContainEqual(
        expect.objectContaining({
          code: 'CONDITION_UNREADABLE',
          field: 'discountPercent',
          value: discountPercent,
          role: 'sales_manager',
        }),
      );
    },
  );

  it('a readable discount decides as before, and an absent one needs no approval', () => {
    const tl = new Timeline();
    const low = send(tl, dealIn('propose', tl), 'negotiate', { ...EXIT_FIELDS.propose, discountPercent: ' 20 ' });
    expect(low).toMatchObject({ outcome: 'applied', moved: true });
    const none = send(tl, dealIn('propose', tl), 'negotiate', EXIT_FIELDS.propose);
    expect(none).toMatchObject({ outcome: 'applied', moved: true });
    const high = send(tl, dealIn('propose', tl), 'negotiate', { ...EXIT_FIELDS.propose, discountPercent: 20.5 });
    expect(high.outcome).toBe('pending_approval');
    expect(high.reasons.map((r) => r.code)).toEqual(['APPROVAL_PENDING']);
  });

  it('never lets a present discount skip the approval unless it reads as a number of at most 20', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.jsonValue()), (value) => {
        const needed = requiredExitApprovals(propose, { discountPercent: value }).length > 0;
        const when = propose.exitApprovals[0]?.when;
        if (when === undefined) throw new Error('the default propose stage has a conditional approval');
        const reading = readCondition(when, { discountPercent: value });
        const readableAtMost20 = reading === 'fails' && value !== null && value !== '' && String(value).trim() !== '';
        if (readableAtMost20) expect(Number(String(value).trim())).toBeLessThanOrEqual(20);
        expect(needed).toBe(reading !== 'fails');
      }),
    );
  });
});

describe('an approval is tied to the values it approves', () => {
  const askedAt25 = (tl: Timeline) => {
    const d = send(tl, dealIn('propose', tl), 'negotiate', { ...EXIT_FIELDS.propose, discountPercent: 25 });
    expect(d.outcome).toBe('pending_approval');
    return d;
  };

  it('stores the values the condition looked at on the approval, and the review page shows them', () => {
    const tl = new Timeline();
    const d = askedAt25(tl);
    const [approval] = d.requested;
    expect(approval?.conditionValues).toEqual({ discountPercent: 25 });
    if (!approval) throw new Error('no approval requested');
    const page = reviewPage(
      {
        deal: dealOf(d),
        approval,
        stage: propose,
        approver: { name: 'Sales manager', email: 'sales-manager@example.com' },
        pendingMoveTo: 'negotiate',
      },
      { token: 't' },
    );
    expect(page).toContain('Values you approve');
    expect(page).toContain('Discount percent: 25');
  });

  it('asks again when the discount is raised while the approval is pending, and tells the rep why', () => {
    const tl = new Timeline();
    const asked = dealOf(askedAt25(tl));
    const first = asked.approvals.find((a) => a.role === 'sales_manager' && a.status === 'pending');
    const raised = send(tl, asked, undefined, { discountPercent: 90 });
    expect(raised.outcome).toBe('applied');
    expect(raised.reasons.map((r) => r.code)).toEqual(['APPROVAL_VALUES_CHANGED', 'APPROVAL_PENDING']);
    expect(raised.reasons[0]?.message).toMatch(/discountPercent from 25 to 90/);
    expect(raised.ended).toEqual([expect.objectContaining({ approvalId: first?.approvalId, status: 'cancelled' })]);
    expect(raised.requested).toEqual([
      expect.objectContaining({ role: 'sales_manager', status: 'pending', conditionValues: { discountPercent: 90 } }),
    ]);
    const deal = dealOf(raised);
    expect(deal.pendingMove?.to).toBe('negotiate');
    // The manager's click on the old request no longer moves the deal at 90%.
    expect(() =>
      decideApproval(
        pipeline,
        deal,
        { approvalId: first?.approvalId ?? '', approve: true, decidedBy: 'manager@example.com', comment: null },
        tl.ctx(),
      ),
    ).toThrow(ApprovalNotPendingError);
    const granted = grant(tl, deal, 'sales_manager');
    expect(granted).toMatchObject({ outcome: 'applied', moved: true });
    expect(dealOf(granted).fields.discountPercent).toBe(90);
  });

  it('moves without the approval once the discount drops under the threshold while it is pending', () => {
    const tl = new Timeline();
    const lowered = send(tl, dealOf(askedAt25(tl)), undefined, { discountPercent: 10 });
    expect(lowered).toMatchObject({ outcome: 'applied', moved: true });
    expect(dealOf(lowered).stage).toBe('negotiate');
  });

  it('does not count a granted approval for other values: a later move asks again', () => {
    const tl = new Timeline();
    let deal = dealOf(askedAt25(tl));
    // Granted, but the move cannot apply yet: a criterion no longer holds.
    deal = dealOf(send(tl, deal, undefined, { quoteId: null }));
    deal = dealOf(grant(tl, deal, 'sales_manager'));
    expect(deal.stage).toBe('propose');
    const again = send(tl, deal, 'negotiate', { quoteId: 'Q-78', discountPercent: 40 });
    expect(again.outcome).toBe('pending_approval');
    expect(again.reasons.map((r) => r.code)).toContain('APPROVAL_VALUES_CHANGED');
    expect(again.requested).toEqual([expect.objectContaining({ conditionValues: { discountPercent: 40 } })]);
  });
});
