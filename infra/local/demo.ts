import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type Fields, OUTCOMES, type Outcome } from '../../functions/core/deal.ts';
import { genericSignatureHeader } from '../../functions/sources/generic.ts';
import { DEVELOPMENT_SECRETS, type LocalStack, optionsFromEnvironment, startLocalStack } from './stack.ts';

/**
 * `npm run demo`: one deal driven through all seven stages of the default pipeline over HTTP, the way a CRM and two
 * approvers would drive it, against the stack on PORT (or one started here), then its timeline.
 */

const PIPELINE = 'default';
const OWNER = { email: 'rep@example.com', name: 'Riley Rep' };
const DEAL_NAME = 'Acme rollout';
const AMOUNT = { amount: 48_000, currency: 'USD' };
const WAIT_MS = 30_000;

/** The demo could not finish; the message says what went wrong and what to do about it. */
class DemoError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DemoError';
  }
}

const ReasonSchema = z.looseObject({ code: z.string(), message: z.string(), missing: z.array(z.string()).optional() });

const WebhookAnswerSchema = z.object({
  outcome: z.enum(OUTCOMES),
  dealId: z.string(),
  stage: z.string().nullable(),
  reasons: z.array(ReasonSchema),
});

const DealSchema = z.object({
  dealId: z.string(),
  stage: z.string(),
  status: z.enum(['open', 'won', 'lost']),
  approvals: z.array(
    z.object({
      role: z.string(),
      status: z.string(),
      decidedBy: z.string().nullable(),
      decidedAt: z.string().nullable(),
      comment: z.string().nullable(),
    }),
  ),
  history: z.array(
    z.object({
      at: z.string(),
      type: z.string(),
      from: z.string().nullable(),
      to: z.string().nullable(),
      outcome: z.string(),
      eventId: z.string().nullable(),
      source: z.string().nullable().optional(),
      reasons: z.array(ReasonSchema),
      approval: z.object({ role: z.string(), status: z.string() }).optional(),
    }),
  ),
});
type DealView = z.infer<typeof DealSchema>;

const SesStoreSchema = z.object({
  emails: z.array(
    z.object({
      destination: z.object({ to: z.array(z.string()) }),
      subject: z.string(),
      body: z.object({ text: z.string().optional(), html: z.string().optional() }),
    }),
  ),
});
type StoredEmail = z.infer<typeof SesStoreSchema>['emails'][number];

const StageGuidanceSchema = z.object({
  stages: z.array(z.object({ key: z.string(), name: z.string(), definition: z.string() })),
});

/** One CRM event of the story: the stage the rep moves the deal to and the fields recorded on the way. */
interface Step {
  stage: string;
  fields: Fields;
  expected: Outcome;
  why: string;
}

function isoDate(daysFromToday: number): string {
  return new Date(Date.now() + daysFromToday * 86_400_000).toISOString().slice(0, 10);
}

/** Each move brings what the stage it leaves needed; two moves break the rules on purpose to show the refusals. */
function story(): Step[] {
  return [
    { stage: 'identify', fields: AMOUNT, expected: 'applied', why: 'the deal is created' },
    {
      stage: 'qualify',
      fields: { decisionMaker: 'Jane Roe (CIO)', firstMeetingDate: isoDate(-30) },
      expected: 'applied',
      why: 'decision maker named, first meeting held',
    },
    { stage: 'negotiate', fields: {}, expected: 'rejected', why: 'a skip past propose, refused' },
    {
      stage: 'propose',
      fields: { champion: 'Sam Champion' },
      expected: 'rejected',
      why: 'the budget is not confirmed yet, refused (the champion is kept)',
    },
    { stage: 'propose', fields: { budgetConfirmed: true }, expected: 'applied', why: 'budget confirmed' },
    {
      stage: 'negotiate',
      fields: {
        decisionCriteria: 'ROI within 12 months',
        quoteId: 'Q-2041',
        pricingPresented: true,
        closePlan: 'Signature before quarter end',
        discountPercent: 10,
      },
      expected: 'applied',
      why: 'quote and pricing presented, close plan agreed (10% discount needs no sales manager)',
    },
    {
      stage: 'deliver',
      fields: { signaturePackageReady: true, signatureDate: isoDate(-1), kickoffDate: isoDate(14) },
      expected: 'applied',
      why: 'signature package ready: the Finance/Legal handoff starts',
    },
    {
      stage: 'closed_won',
      fields: { contractSigned: true, orderFormSigned: true },
      expected: 'pending_approval',
      why: 'contract and order form signed: the win waits for Finance and Legal',
    },
  ];
}

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    // The path only: an approval link's query holds its token, which is never printed.
    const { origin, pathname } = new URL(url);
    throw new DemoError(`${init.method ?? 'GET'} ${origin}${pathname} did not answer — is the stack still running?`, {
      cause: error,
    });
  }
}

async function readJson<T>(response: Response, schema: z.ZodType<T>, what: string): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new DemoError(`${what} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new DemoError(
      `${what} answered ${response.status} with ${text.slice(0, 300)}\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

async function sendEvent(api: string, secret: string, event: Record<string, unknown>) {
  const body = JSON.stringify(event);
  const response = await request(`${api}/webhooks/generic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stageflow-signature': genericSignatureHeader(secret, body) },
    body,
  });
  if (response.status === 401) {
    throw new DemoError(
      'the stack refused the webhook signature (401) — run the demo with the GENERIC_WEBHOOK_SECRET the stack uses',
    );
  }
  if (response.status !== 202) {
    throw new DemoError(`POST /webhooks/generic answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
  return readJson(response, WebhookAnswerSchema, 'POST /webhooks/generic');
}

async function getDeal(api: string, dealId: string): Promise<DealView> {
  const response = await request(`${api}/deals/${encodeURIComponent(dealId)}?pipeline=${PIPELINE}`);
  if (response.status !== 200) throw new DemoError(`GET /deals/${dealId} answered ${response.status}`);
  return readJson(response, DealSchema, `GET /deals/${dealId}`);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new DemoError(`gave up after ${WAIT_MS / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

function describeReasons(reasons: z.infer<typeof ReasonSchema>[]): string[] {
  return reasons.map((r) => `${r.code}: ${r.message}${r.missing ? ` (missing: ${r.missing.join(', ')})` : ''}`);
}

/** The one review link of the approval email sent to `to` about `dealId`, once local SES holds it. */
async function approvalEmail(ses: string, to: string, dealId: string): Promise<{ email: StoredEmail; link: string }> {
  const email = await waitFor(async () => {
    const { emails } = await readJson(await request(`${ses}/store`), SesStoreSchema, `GET ${ses}/store`);
    return emails.find((e) => e.destination.to.includes(to) && mentions(e, dealId) && reviewLinks(e).length > 0);
  }, `the approval email to ${to} in local SES (${ses}/)`);
  const links = reviewLinks(email);
  const [link] = links;
  if (links.length !== 1 || link === undefined) {
    throw new DemoError(`the approval email to ${to} holds ${links.length} review links instead of exactly one`);
  }
  return { email, link };
}

function mentions(email: StoredEmail, text: string): boolean {
  return `${email.subject}\n${email.body.text ?? ''}`.includes(text);
}

function reviewLinks(email: StoredEmail): string[] {
  return (email.body.text ?? '').match(/https?:\/\/\S+\/approvals\/\S+\?token=\S+/g) ?? [];
}

/** The attributes of one HTML start tag, e.g. `<input type="hidden" name="token" value="…">`. */
function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, name = '', value = '']) => [name, value]));
}

/** What a browser would submit from the review page's form when the approver presses Approve. */
function approveSubmission(page: string, pageUrl: string, comment: string): { action: string; form: URLSearchParams } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page);
  const buttons = [...(form?.[2] ?? '').matchAll(/<button\b[^>]*>/gi)].map(([tag]) => attributes(tag));
  const approve = buttons.find((b) => b.value === 'approve');
  const action = attributes(form?.[1] ?? '').action;
  if (!form || !approve?.name || action === undefined) {
    throw new DemoError(`the review page ${new URL(pageUrl).pathname} has no form with an Approve button`);
  }
  const fields = new URLSearchParams();
  for (const [tag] of form[2]?.matchAll(/<(?:input|textarea)\b[^>]*>/gi) ?? []) {
    const input = attributes(tag);
    if (input.name && input.name !== 'comment') fields.set(input.name, input.value ?? '');
  }
  fields.set('comment', comment);
  fields.set(approve.name, 'approve');
  return { action: new URL(action, pageUrl).href, form: fields };
}

/** Opens the emailed link as the approver would, then presses Approve with a comment. */
async function approveAsPerson(link: string, comment: string): Promise<string> {
  const page = await request(link);
  const html = await page.text();
  if (page.status !== 200) throw new DemoError(`the review page answered ${page.status} instead of 200`);
  const title = /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1]?.trim() ?? '(no title)';
  const { action, form } = approveSubmission(html, link, comment);
  const confirmation = await request(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  if (confirmation.status !== 200) {
    throw new DemoError(`posting the approval answered ${confirmation.status} instead of 200`);
  }
  const heading = /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(await confirmation.text())?.[1]?.trim() ?? '(no title)';
  return `opened the review page (200, "${title}"), pressed Approve (200, "${heading}")`;
}

function clock(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d{3})?Z$/, (_, ms: string | undefined) => `${ms ?? ''} UTC`);
}

/** What a history entry did: a move from → to, or which approval ended and how. */
function change(entry: DealView['history'][number]): string {
  return entry.approval
    ? `${entry.approval.role} ${entry.approval.status}`
    : `${entry.from ?? '—'} → ${entry.to ?? '—'}`;
}

function timeline(deal: DealView): string[] {
  const rows = deal.history.map((h) => [
    clock(h.at),
    h.type,
    change(h),
    h.outcome,
    [h.source, h.eventId].filter(Boolean).join(' ') || '—',
    h.reasons.map((r) => r.code).join(', '),
  ]);
  const header = ['time', 'type', 'change', 'outcome', 'source / event', 'reasons'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}`;
  return [line(header), ...rows.map(line)];
}

/** The stack on PORT when its `/health` answers 200; otherwise one started in this process (and stopped at the end). */
async function connect(log: string[]): Promise<{ api: string; ses: string; started: LocalStack | null }> {
  const options = optionsFromEnvironment(process.env.STAGEFLOW_DATA_DIR ? [] : ['--in-memory']);
  const api = `http://127.0.0.1:${options.port}`;
  const health = await fetch(`${api}/health`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
  if (health?.status === 200) {
    console.log(`Using the stack already running at ${api} (mail viewer http://127.0.0.1:${options.sesPort}/)`);
    return { api, ses: `http://127.0.0.1:${options.sesPort}`, started: null };
  }
  if (health) {
    throw new DemoError(
      `${api}/health answers ${health.status}: a stack on port ${options.port} is not healthy — ` +
        'wait for it to finish starting, or stop it and run the demo again',
    );
  }
  const where = options.dataDir ? `with data in ${options.dataDir}` : 'in memory';
  console.log(`No stack answers at ${api}: starting one in this process (${where}; it stops when the demo ends)…`);
  const stack = await startLocalStack({ ...options, log: (line) => log.push(line) });
  console.log(`Started: API ${stack.url}, mail viewer ${stack.sesUrl}/`);
  return { api: stack.url, ses: stack.sesUrl, started: stack };
}

async function demo(api: string, ses: string): Promise<void> {
  const secret = process.env.GENERIC_WEBHOOK_SECRET || DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET;
  const run = `${Date.now().toString(36)}-${process.pid}`;
  const dealId = `DEMO-${run}`;
  let eventCount = 0;
  const amount = new Intl.NumberFormat('en-US', { style: 'currency', currency: AMOUNT.currency }).format(AMOUNT.amount);
  console.log(`\nDeal ${dealId} "${DEAL_NAME}", owner ${OWNER.name} <${OWNER.email}>, amount ${amount}`);
  console.log('\nThe CRM sends signed webhooks (POST /webhooks/generic):');
  for (const step of story()) {
    eventCount++;
    const answer = await sendEvent(api, secret, {
      eventId: `demo-${run}-${eventCount}`,
      dealId,
      pipeline: PIPELINE,
      stage: step.stage,
      dealName: DEAL_NAME,
      owner: OWNER,
      fields: step.fields,
    });
    console.log(`  → ${step.stage.padEnd(11)} ${answer.outcome.padEnd(17)} ${step.why}`);
    for (const reason of describeReasons(answer.reasons)) console.log(`      ${reason}`);
    if (answer.outcome !== step.expected) {
      throw new DemoError(
        `the move to ${step.stage} answered ${answer.outcome} where the default pipeline gives ${step.expected}; ` +
          'is the stack running stage-config/default.yaml?',
      );
    }
  }

  console.log('\nFinance and Legal open their emails (local SES), review the deal and approve:');
  for (const [role, to] of [
    ['finance', 'finance@example.com'],
    ['legal', 'legal@example.com'],
  ] as const) {
    const { email, link } = await approvalEmail(ses, to, dealId);
    console.log(`  ${role}: email to ${to}, "${email.subject}"`);
    console.log(`    ${await approveAsPerson(link, `Signed contract details checked by ${role}.`)}`);
  }

  console.log('\nThe last approval lets the pending move to closed_won apply by itself; waiting for it…');
  const won = await waitFor(async () => {
    const deal = await getDeal(api, dealId);
    if (deal.status === 'lost') throw new DemoError(`deal ${dealId} was closed lost instead of won`);
    return deal.status === 'won' ? deal : undefined;
  }, `deal ${dealId} to be won (GET ${api}/deals/${dealId})`);
  console.log(`  deal ${dealId} is ${won.status}, stage ${won.stage}`);

  console.log(`\nTimeline of ${dealId} (GET ${api}/deals/${dealId}?pipeline=${PIPELINE}):`);
  for (const line of timeline(won)) console.log(line);
  console.log('\nApprovals:');
  for (const a of won.approvals) {
    const when = a.decidedAt ? ` at ${clock(a.decidedAt)}` : '';
    const comment = a.comment ? `: "${a.comment}"` : '';
    console.log(`  ${a.role.padEnd(8)} ${a.status} by ${a.decidedBy ?? 'nobody'}${when}${comment}`);
  }

  const guidanceUrl = `${api}/pipelines/${PIPELINE}/stages`;
  const guidance = await readJson(await request(guidanceUrl), StageGuidanceSchema, `GET ${guidanceUrl}`);
  const final = guidance.stages.find((s) => s.key === won.stage);
  console.log(`\nStage guidance for ${final?.name ?? won.stage} (${won.stage}): ${guidanceUrl}`);
  if (final) console.log(`  ${final.definition}`);
}

const log: string[] = [];
let stack: LocalStack | null = null;
process.once('SIGINT', async () => {
  await stack?.stop();
  process.exit(130);
});
try {
  const connection = await connect(log);
  stack = connection.started;
  await demo(connection.api, connection.ses);
  console.log('\nDemo finished: the deal went through all seven stages and is won.');
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\nThe demo failed: ${message}`);
  if (log.length > 0) console.error(`Local stack log:\n${log.join('\n')}`);
  process.exitCode = 1;
} finally {
  await stack?.stop();
}
// The in-process stack leaves client sockets and timers behind; the demo is over either way.
process.exit();
