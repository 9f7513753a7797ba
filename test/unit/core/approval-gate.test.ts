import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requiredExitApprovals } from '../../../functions/core/approval-gate.ts';
import { readCondition } from '../../../functions/core/criteria.ts';
import type { Deal, Decision } from '../../../functions/core/deal.ts';
import { requireStage } from '../../../functions/core/stages.ts';
import { dealIn, EXIT_FIELDS, pipeline, send, Timeline } from './scenario.ts';

const { config } = pipeline;
const propose = requireStage(config, 'propose');
const dealOf = (d: Decision): Deal => {
  if (d.deal === null) throw new Error(`no deal in ${JSON.stringify(d)}`);
  return d.deal;
};

/** Values a CRM or a careless sender may put in a numeric field, none of which reads as a plain number. */
const UNREADABLE_DISCOUNTS: unknown[] = ['30%', '30,5', '1e999', '0x1E', '３０', [30], { value: 30 }, true, 'thirty'];

describe('a condition that cannot read its field fails closed (issue 13 item 4)', () => {
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
