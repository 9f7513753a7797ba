import { describe, expect, it } from 'vitest';
import type { Deal } from '../../functions/core/deal.ts';
import { approvalCancelledEmail, configRolloutEmail } from '../../functions/core/emails.ts';
import { requireStage } from '../../functions/core/stages.ts';
import { dealAwaitingApprovals, pipeline } from '../support/approval-fakes.ts';

const { config } = pipeline;
const legalOf = (deal: Deal) => {
  const approval = deal.approvals.find((a) => a.role === 'legal');
  if (!approval) throw new Error('fixture has no legal approval');
  return { ...approval, status: 'cancelled' as const };
};

describe('the emails of a config rollout', () => {
  it('tells the approver that the request is withdrawn, with no link and the deal name escaped', () => {
    const deal = { ...dealAwaitingApprovals(), dealName: '<b>Acme</b>' };
    const approver = { name: 'Legal', email: 'legal@example.com' };
    const email = approvalCancelledEmail({ deal, approval: legalOf(deal), approver });
    expect(email.to).toBe('legal@example.com');
    expect(email.subject).toBe('No longer needed: <b>Acme</b> — Legal');
    expect(email.text).toContain('no longer needs your approval');
    expect(email.text).not.toMatch(/https?:\/\//);
    expect(email.html).toContain('&lt;b&gt;Acme&lt;/b&gt;');
    expect(email.html).not.toContain('<b>Acme</b>');
  });

  it('tells the owner about the withdrawn approvals and a stage move caused by a retired stage', () => {
    const deal = dealAwaitingApprovals();
    const email = configRolloutEmail({
      deal,
      cancelled: [legalOf(deal)],
      stageMove: { from: 'propose', to: requireStage(config, 'negotiate') },
      approvers: config.approvers,
    });
    expect(email.to).toBe(deal.owner?.email);
    expect(email.subject).toMatch(/^Pipeline rules changed: /);
    expect(email.text).toContain('retires stage propose: the deal is now in Negotiate');
    expect(email.text).toMatch(/Approval requests withdrawn \(no longer needed\):\n- Legal <legal@example\.com>: /);
  });
});
