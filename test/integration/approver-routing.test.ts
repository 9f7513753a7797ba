import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { dealAt, getDeal, postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { approvalIdOf, decide, reviewLink, type StoredEmail, sentEmails } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/** When the delegation of Legal to counsel starts and ends, in seconds after the config is written. */
const DELEGATION_STARTS = 150;
const DELEGATION_ENDS = 175;

const FINANCE_ANY = ['ana@desk.test', 'ben@desk.test'];
const FINANCE_ALL = ['fay@desk.test', 'finn@desk.test'];
const CFO = 'cfo@desk.test';
const COUNSEL = 'counsel@desk.test';

interface ApprovalView {
  approvalId: string;
  role: string;
  status: string;
  decidedBy: string | null;
  onBehalfOf: string | null;
  decide: string | null;
  asked: { email: string; status: string; onBehalfOf: { email: string } | null }[];
}

/**
 * Two pipelines on one stack: `default` with Finance as a group where any member decides, Legal delegated to counsel
 * for a window that opens and closes while the tests run, and the sales manager named by the deal's `managerEmail`;
 * `desk` with Finance as a group where all must approve, an escalation address, and approval timing in seconds.
 */
function writeConfigs(dir: string, writtenAt: number): void {
  const at = (seconds: number) => new Date(writtenAt + seconds * 1000).toISOString();
  const base = parse(readFileSync('stage-config/default.yaml', 'utf8')) as Record<string, unknown>;
  const main = {
    ...base,
    approvers: {
      finance: { name: 'Finance', members: FINANCE_ANY, decide: 'any', escalateTo: CFO },
      legal: {
        name: 'Legal',
        email: 'legal@example.com',
        delegates: [{ to: COUNSEL, from: at(DELEGATION_STARTS), until: at(DELEGATION_ENDS) }],
      },
      sales_manager: { name: 'Sales manager', email: 'sales-manager@example.com', fromField: 'managerEmail' },
    },
  };
  const desk = {
    ...base,
    pipeline: 'desk',
    name: 'Deal desk',
    crm: {},
    approvers: {
      ...(base.approvers as Record<string, unknown>),
      finance: { name: 'Finance', members: FINANCE_ALL, decide: 'all', escalateTo: CFO },
    },
    // A reminder after about 4 s, the expiry after about 18 s.
    approvalTiming: { reminderAfterHours: 0.001, expireAfterHours: 0.005 },
  };
  writeFileSync(join(dir, 'default.yaml'), stringify(main));
  writeFileSync(join(dir, 'desk.yaml'), stringify(desk));
}

describe('approver groups, delegation, escalation and the approver named by the deal', () => {
  const configDir = mkdtempSync(join(tmpdir(), 'stageflow-desk-'));
  writeConfigs(configDir, Date.now());
  let stack: StackProcess;
  let delegatedDeal: string;
  let decidedByCounsel: string;

  beforeAll(async () => {
    stack = await startStackProcess({ STAGEFLOW_CONFIG: configDir }, ['--in-memory']);
    // Asked before the delegation starts; the delegation test follows them through its window at the end.
    delegatedDeal = await dealAt('deliver', { api: stack.urls.api });
    decidedByCounsel = await dealAt('deliver', { api: stack.urls.api });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  const mailsTo = async (to: string, dealId: string): Promise<StoredEmail[]> =>
    (await sentEmails(stack.urls.ses)).filter(
      (e) => e.destination.to.includes(to) && `${e.subject}\n${e.body.text ?? ''}`.includes(dealId),
    );
  const mailTo = (to: string, dealId: string, subject = 'Approval needed:', nth = 0, timeoutMs = 60_000) =>
    waitFor(
      async () => (await mailsTo(to, dealId)).filter((e) => e.subject.startsWith(subject))[nth],
      `email ${nth + 1} "${subject}…" to ${to} about ${dealId}`,
      timeoutMs,
    );
  const approvalOf = async (dealId: string, role: string, pipeline = 'default') => {
    const { body } = await getDeal(dealId, pipeline, stack.urls.api);
    return (body.approvals as unknown as ApprovalView[]).findLast((a) => a.role === role) as ApprovalView;
  };

  it('asks each member of an any-group with their own link; two members at the same moment: one outcome', async () => {
    const dealId = await dealAt('deliver', { api: stack.urls.api });
    const [ana, ben] = await Promise.all(FINANCE_ANY.map((to) => mailTo(to, dealId)));
    if (!ana || !ben) throw new Error('both members are asked');
    const links = [reviewLink(ana), reviewLink(ben)];
    expect(links[0]).not.toBe(links[1]);
    expect(approvalIdOf(links[0] as string)).toBe(approvalIdOf(links[1] as string));
    expect(ana.body.text).toContain('the first member to decide decides for the group');

    const [first, second] = await Promise.all([
      decide(links[0] as string, 'approve'),
      decide(links[1] as string, 'reject', 'The totals differ'),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const winner = first.status === 200 ? FINANCE_ANY[0] : FINANCE_ANY[1];
    const finance = await approvalOf(dealId, 'finance');
    expect(finance).toMatchObject({
      status: first.status === 200 ? 'approved' : 'rejected',
      decidedBy: winner,
      decide: 'any',
    });
    expect(finance.asked.map((a) => a.email).sort()).toEqual(FINANCE_ANY);
    const other = first.status === 200 ? FINANCE_ANY[1] : FINANCE_ANY[0];
    expect(finance.asked.find((a) => a.email === other)).toMatchObject({ status: 'withdrawn' });
    // The other member is told who decided, so nobody opens a request that no longer waits for them.
    const told = await mailTo(other as string, dealId, `Decided by ${winner}:`);
    expect(told.body.text).toContain(first.status === 200 ? 'approved' : 'rejected');

    // The other member's link, and a second click on the winner's, answer 409 naming who decided.
    const loser = first.status === 200 ? (links[1] as string) : (links[0] as string);
    const page = await fetch(loser);
    expect(page.status).toBe(409);
    expect(await page.text()).toContain(winner);
    expect((await decide(first.status === 200 ? (links[0] as string) : loser, 'approve')).status).toBe(409);
  }, 120_000);

  it('grants an all-group only when every member approved, and one rejection rejects', async () => {
    const api = stack.urls.api;
    const granted = await dealAt('deliver', { api, pipeline: 'desk' });
    const [fay, finn] = await Promise.all(FINANCE_ALL.map((to) => mailTo(to, granted)));
    if (!fay || !finn) throw new Error('both members are asked');
    expect(fay.body.text).toContain('every member must approve');
    expect((await decide(reviewLink(fay), 'approve')).status).toBe(200);
    expect(await approvalOf(granted, 'finance', 'desk')).toMatchObject({ status: 'pending', decide: 'all' });
    expect((await decide(reviewLink(fay), 'approve')).status, "fay's link is used").toBe(409);
    expect((await decide(reviewLink(finn), 'approve')).status).toBe(200);
    const approved = await approvalOf(granted, 'finance', 'desk');
    expect(approved.status).toBe('approved');
    expect(approved.decidedBy).toContain(FINANCE_ALL[0]);
    expect(approved.decidedBy).toContain(FINANCE_ALL[1]);

    const refused = await dealAt('deliver', { api, pipeline: 'desk' });
    const [fay2, finn2] = await Promise.all(FINANCE_ALL.map((to) => mailTo(to, refused)));
    if (!fay2 || !finn2) throw new Error('both members are asked');
    // Both at the same moment: the rejection is recorded; the approval is recorded too when it lands first, and is
    // answered as already decided when the rejection ended the approval before it. Either way it ends once, rejected.
    const [approval, rejection] = await Promise.all([
      decide(reviewLink(fay2), 'approve'),
      decide(reviewLink(finn2), 'reject', 'Payment terms are missing'),
    ]);
    expect(rejection?.status).toBe(200);
    expect([200, 409]).toContain(approval?.status);
    const rejected = await approvalOf(refused, 'finance', 'desk');
    expect(rejected).toMatchObject({ status: 'rejected', decidedBy: FINANCE_ALL[1] });
  }, 120_000);

  it('copies the escalation address on the reminder, and tells it at expiry', async () => {
    const dealId = await dealAt('deliver', { api: stack.urls.api, pipeline: 'desk' });
    const reminder = await mailTo(FINANCE_ALL[0] as string, dealId, 'Reminder: Approval needed:');
    expect(reminder.destination.cc).toEqual([CFO]);
    const legalReminder = await mailTo('legal@example.com', dealId, 'Reminder: Approval needed:');
    expect(legalReminder.destination.cc ?? []).toEqual([]);
    const told = await mailTo(CFO, dealId, 'Approval expired unanswered:');
    expect(told.body.text).toContain(FINANCE_ALL[0]);
    expect(await approvalOf(dealId, 'finance', 'desk')).toMatchObject({ status: 'expired' });
  }, 120_000);

  it("asks the address the deal's field names, else the configured approver", async () => {
    const api = stack.urls.api;
    const move = (dealId: string, managerEmail: string) =>
      postGeneric(
        {
          eventId: uniqueId('E'),
          dealId,
          stage: 'negotiate',
          fields: { ...EXIT_FIELDS.propose, discountPercent: 25, managerEmail },
        },
        { api },
      );
    const named = await dealAt('propose', { api });
    expect((await move(named, 'maria@desk.test')).body.outcome).toBe('pending_approval');
    const maria = await mailTo('maria@desk.test', named);
    expect((await decide(reviewLink(maria), 'approve')).status).toBe(200);
    expect(await approvalOf(named, 'sales_manager')).toMatchObject({
      status: 'approved',
      decidedBy: 'maria@desk.test',
    });

    const unnamed = await dealAt('propose', { api });
    expect((await move(unnamed, 'not an address')).body.outcome).toBe('pending_approval');
    await mailTo('sales-manager@example.com', unnamed);
    expect((await approvalOf(unnamed, 'sales_manager')).asked.map((a) => a.email)).toEqual([
      'sales-manager@example.com',
    ]);
  }, 120_000);

  it('asks the delegate while the delegation is active, and Legal again once it ends', async () => {
    const legal = await mailTo('legal@example.com', delegatedDeal);
    const legalOther = await mailTo('legal@example.com', decidedByCounsel);
    expect(
      (await mailsTo(COUNSEL, delegatedDeal)).length,
      `the stack started before the delegation window opened (${DELEGATION_STARTS} s after the config was written)`,
    ).toBe(0);

    // The window opens: counsel is asked on Legal's behalf, and Legal's link no longer decides.
    const counsel = await mailTo(COUNSEL, delegatedDeal, 'Approval needed:', 0, 200_000);
    expect(counsel.body.text).toContain('on behalf of Legal <legal@example.com>');
    await mailTo('legal@example.com', delegatedDeal, 'No longer yours to decide:');
    const withdrawn = await fetch(reviewLink(legal));
    expect(withdrawn.status).toBe(410);
    expect(await withdrawn.text()).toContain(COUNSEL);
    const during = await approvalOf(delegatedDeal, 'legal');
    expect(during.asked).toEqual([
      expect.objectContaining({ email: 'legal@example.com', status: 'withdrawn', onBehalfOf: null }),
      expect.objectContaining({
        email: COUNSEL,
        status: 'pending',
        onBehalfOf: expect.objectContaining({ email: 'legal@example.com' }),
      }),
    ]);

    // On the other deal counsel decides, on Legal's behalf: the read API, the history and the deal page say so.
    const counselOther = await mailTo(COUNSEL, decidedByCounsel);
    expect((await decide(reviewLink(legalOther), 'approve')).status).toBe(410);
    expect((await decide(reviewLink(counselOther), 'approve')).status).toBe(200);
    const decided = await approvalOf(decidedByCounsel, 'legal');
    expect(decided).toMatchObject({ status: 'approved', decidedBy: COUNSEL, onBehalfOf: 'Legal <legal@example.com>' });
    const { body } = await getDeal(decidedByCounsel, 'default', stack.urls.api);
    expect(body.history.at(-1)).toMatchObject({
      type: 'approval',
      approval: { decidedBy: COUNSEL, onBehalfOf: 'Legal <legal@example.com>' },
    });
    const page = await (await fetch(`${stack.urls.api}/board/deals/${decidedByCounsel}`)).text();
    expect(page).toContain(`${COUNSEL} on behalf of Legal &lt;legal@example.com&gt;`);

    // The window closes: Legal is asked again with a new link, and counsel's link no longer decides.
    const again = await mailTo('legal@example.com', delegatedDeal, 'Approval needed:', 1, 60_000);
    await mailTo(COUNSEL, delegatedDeal, 'No longer yours to decide:');
    expect((await decide(reviewLink(counsel), 'approve')).status).toBe(410);
    expect((await decide(reviewLink(again), 'approve')).status).toBe(200);
    expect(await approvalOf(delegatedDeal, 'legal')).toMatchObject({
      status: 'approved',
      decidedBy: 'Legal <legal@example.com>',
      onBehalfOf: null,
    });
  }, 300_000);
});
