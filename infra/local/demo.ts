import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type Fields, OUTCOMES, type Outcome } from '../../functions/core/deal.ts';
import type { PipelineConfig } from '../../functions/core/pipeline-config.ts';
import { crmStageValue } from '../../functions/sources/crm-maps.ts';
import { genericSignatureHeader } from '../../functions/sources/generic.ts';
import { hubspotSignatureHeaders } from '../../functions/sources/hubspot.ts';
import { HubSpotSandbox } from './hubspot-sandbox.ts';
import { DEVELOPMENT_SECRETS, type LocalStack, optionsFromEnvironment, startLocalStack } from './stack.ts';

/**
 * `npm run demo`: one deal driven through all seven stages of the default pipeline over HTTP, the way a CRM and two
 * approvers would drive it, against the stack on PORT (or one started here), then its timeline. When the demo starts
 * the stack itself, the deal comes from HubSpot: a local HubSpot stand-in receives what Stageflow writes back
 * (CONTRACT section 9) and prints it.
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
type WebhookAnswer = z.infer<typeof WebhookAnswerSchema>;

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
      crm: z.string().optional(),
      status: z.number().optional(),
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

async function postWebhook<T>(
  url: string,
  headers: Record<string, string>,
  body: string,
  schema: z.ZodType<T>,
): Promise<T> {
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const { pathname } = new URL(url);
  if (response.status === 401) {
    throw new DemoError(
      `the stack refused the signature of POST ${pathname} (401) — run the demo with the secrets the stack uses ` +
        '(GENERIC_WEBHOOK_SECRET, HUBSPOT_CLIENT_SECRET)',
    );
  }
  if (response.status !== 202) {
    throw new DemoError(`POST ${pathname} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  }
  return readJson(response, schema, `POST ${pathname}`);
}

function formattedAmount(): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: AMOUNT.currency }).format(AMOUNT.amount);
}

/** Where the deal lives: the CRM whose webhooks tell Stageflow about the rep's moves. */
interface DealSource {
  dealId: string;
  /** What the reader is told about the source before the moves. */
  intro: string[];
  /** The rep records the step's fields and moves the deal; the answer to the webhook that reports the move. */
  move(step: Step): Promise<WebhookAnswer>;
  /** What Stageflow wrote back to the CRM about the decision just answered, once it arrived (none for generic). */
  writtenBack(answer: WebhookAnswer): Promise<string[]>;
}

/** A CRM that sends Stageflow's generic signed JSON webhook (CONTRACT 3.1) and hears nothing back. */
function genericSource(api: string, run: string): DealSource {
  const secret = process.env.GENERIC_WEBHOOK_SECRET || DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET;
  const dealId = `DEMO-${run}`;
  let eventCount = 0;
  return {
    dealId,
    intro: [
      `Deal ${dealId} "${DEAL_NAME}", owner ${OWNER.name} <${OWNER.email}>, amount ${formattedAmount()}`,
      '',
      'The CRM sends signed webhooks (POST /webhooks/generic):',
    ],
    async move(step) {
      eventCount++;
      const body = JSON.stringify({
        eventId: `demo-${run}-${eventCount}`,
        dealId,
        pipeline: PIPELINE,
        stage: step.stage,
        dealName: DEAL_NAME,
        owner: OWNER,
        fields: step.fields,
      });
      const headers = { 'stageflow-signature': genericSignatureHeader(secret, body) };
      return postWebhook(`${api}/webhooks/generic`, headers, body, WebhookAnswerSchema);
    },
    writtenBack: async () => [],
  };
}

/**
 * A HubSpot deal: the rep drags it in the HubSpot stand-in, HubSpot's signed webhooks v3 batch (CONTRACT 3.2) reports
 * each move with the properties filled in, and the stand-in receives Stageflow's write-back.
 */
function hubspotSource(api: string, hubspot: HubSpotSandbox, config: PipelineConfig): DealSource {
  const secret = process.env.HUBSPOT_CLIENT_SECRET || DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET;
  const dealId = String(Date.now());
  let eventId = Date.now() * 100;
  const dealstage = (stage: string) => {
    const value = crmStageValue(config, 'hubspot', stage);
    if (!value) throw new DemoError(`the ${PIPELINE} pipeline maps no HubSpot dealstage to ${stage}`);
    return value;
  };
  const property = (propertyName: string, propertyValue: unknown) => ({
    eventId: ++eventId,
    subscriptionId: 1,
    portalId: 62515,
    occurredAt: Date.now(),
    subscriptionType: 'deal.propertyChange',
    objectId: Number(dealId),
    propertyName,
    propertyValue: String(propertyValue),
    changeSource: 'CRM_UI',
    attemptNumber: 0,
  });
  let notesBefore = 0;
  return {
    dealId,
    intro: [
      `Deal ${dealId} "${DEAL_NAME}" in HubSpot, amount ${formattedAmount()}`,
      '',
      `The deal lives in HubSpot (a local stand-in at ${hubspot.url}); the rep drags it from stage to stage and`,
      'HubSpot sends signed webhooks (POST /webhooks/hubspot). The stand-in prints what Stageflow writes back:',
    ],
    async move(step) {
      const value = dealstage(step.stage);
      // The first move creates the deal in HubSpot, named; later ones are the rep dragging it.
      const created = hubspot.stageOf(dealId) === undefined;
      if (created) hubspot.addDeal(dealId, String(value.value));
      else hubspot.moveDeal(dealId, value);
      notesBefore = hubspot.notes(dealId).length;
      const events = [
        ...(created ? [property('dealname', DEAL_NAME)] : []),
        ...Object.entries(step.fields).map(([name, field]) => property(name, field)),
        property('dealstage', value.value),
      ];
      const body = JSON.stringify(events);
      const url = `${api}/webhooks/hubspot`;
      const headers = hubspotSignatureHeaders(secret, url, body);
      const answer = await postWebhook(url, headers, body, z.object({ results: z.array(WebhookAnswerSchema) }));
      const last = answer.results.at(-1);
      if (!last) throw new DemoError('POST /webhooks/hubspot answered no result for the move');
      return last;
    },
    async writtenBack(answer) {
      if (answer.outcome !== 'rejected' && answer.outcome !== 'pending_approval') return [];
      return [await hubspotNote(hubspot, dealId, notesBefore)];
    },
  };
}

/** The note Stageflow added to the HubSpot deal after the first `notesBefore`, and the stage the deal shows. */
async function hubspotNote(hubspot: HubSpotSandbox, dealId: string, notesBefore: number): Promise<string> {
  const note = await waitFor(
    async () => hubspot.notes(dealId)[notesBefore],
    `Stageflow's note on HubSpot deal ${dealId} (${hubspot.url})`,
  );
  const firstLine = note.split('<br>')[0] ?? '';
  return `HubSpot shows ${hubspot.stageOf(dealId)}, with Stageflow's note "${firstLine}"`;
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
    // A write-back names its CRM and the HTTP status it answered.
    [h.source ?? h.crm, h.status === undefined ? h.eventId : `HTTP ${h.status}`].filter(Boolean).join(' ') || '—',
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

interface Connection {
  api: string;
  ses: string;
  /** The stack this process started, or null when one was running already. */
  started: LocalStack | null;
  /** The HubSpot stand-in the started stack writes back to. */
  hubspot: HubSpotSandbox | null;
  source: DealSource;
}

/**
 * The stack on PORT when its `/health` answers 200, with the deal sent through the generic webhook (that stack writes
 * back wherever it was told to, so the demo sends it no CRM deal); otherwise one started in this process (and stopped
 * at the end), writing back to a HubSpot stand-in, with the deal coming from HubSpot.
 */
async function connect(log: string[], run: string): Promise<Connection> {
  const options = optionsFromEnvironment(process.env.STAGEFLOW_DATA_DIR ? [] : ['--in-memory']);
  const api = `http://127.0.0.1:${options.port}`;
  const health = await fetch(`${api}/health`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
  if (health?.status === 200) {
    console.log(`Using the stack already running at ${api} (mail viewer http://127.0.0.1:${options.sesPort}/)`);
    console.log(
      'The deal comes through the generic webhook: the HubSpot round trip runs when the demo starts its own stack ' +
        '(stop this one, or set PORT to a free port).',
    );
    return {
      api,
      ses: `http://127.0.0.1:${options.sesPort}`,
      started: null,
      hubspot: null,
      source: genericSource(api, run),
    };
  }
  if (health) {
    throw new DemoError(
      `${api}/health answers ${health.status}: a stack on port ${options.port} is not healthy — ` +
        'wait for it to finish starting, or stop it and run the demo again',
    );
  }
  const where = options.dataDir ? `with data in ${options.dataDir}` : 'in memory';
  console.log(`No stack answers at ${api}: starting one in this process (${where}; it stops when the demo ends)…`);
  const hubspot = await new HubSpotSandbox({ print: (line) => console.log(`      ${line}`) }).start();
  // The demo's stack writes back to the stand-in, never to a HubSpot account the environment may name.
  process.env.HUBSPOT_ACCESS_TOKEN = hubspot.accessToken;
  process.env.HUBSPOT_API_BASE_URL = hubspot.url;
  const stack = await startLocalStack({ ...options, log: (line) => log.push(line) });
  console.log(`Started: API ${stack.url}, mail viewer ${stack.sesUrl}/, HubSpot stand-in ${hubspot.url}`);
  const pipeline = stack.pipelines.get(PIPELINE);
  if (!pipeline) throw new DemoError(`the stack has no pipeline '${PIPELINE}' — is STAGEFLOW_CONFIG another file?`);
  return {
    api: stack.url,
    ses: stack.sesUrl,
    started: stack,
    hubspot,
    source: hubspotSource(stack.url, hubspot, pipeline.config),
  };
}

async function demo(api: string, ses: string, source: DealSource, hubspot: HubSpotSandbox | null): Promise<void> {
  const { dealId } = source;
  console.log(`\n${source.intro.join('\n')}`);
  for (const step of story()) {
    const answer = await source.move(step);
    console.log(`  → ${step.stage.padEnd(11)} ${answer.outcome.padEnd(17)} ${step.why}`);
    for (const reason of describeReasons(answer.reasons)) console.log(`      ${reason}`);
    if (answer.outcome !== step.expected) {
      throw new DemoError(
        `the move to ${step.stage} answered ${answer.outcome} where the default pipeline gives ${step.expected}; ` +
          'is the stack running stage-config/default.yaml?',
      );
    }
    for (const line of await source.writtenBack(answer)) console.log(`      ${line}`);
  }

  const notesBeforeApprovals = hubspot?.notes(dealId).length ?? 0;
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
  let final = won;
  if (hubspot) {
    console.log(`  ${await hubspotNote(hubspot, dealId, notesBeforeApprovals)}`);
    final = await waitFor(async () => {
      const deal = await getDeal(api, dealId);
      return deal.history.some((h) => h.type === 'crm_sync' && h.to === 'closed_won') ? deal : undefined;
    }, `the write-back of the win in the history of deal ${dealId}`);
  }

  console.log(`\nTimeline of ${dealId} (GET ${api}/deals/${dealId}?pipeline=${PIPELINE}):`);
  for (const line of timeline(final)) console.log(line);
  console.log('\nApprovals:');
  for (const a of won.approvals) {
    const when = a.decidedAt ? ` at ${clock(a.decidedAt)}` : '';
    const comment = a.comment ? `: "${a.comment}"` : '';
    console.log(`  ${a.role.padEnd(8)} ${a.status} by ${a.decidedBy ?? 'nobody'}${when}${comment}`);
  }

  const guidanceUrl = `${api}/pipelines/${PIPELINE}/stages`;
  const guidance = await readJson(await request(guidanceUrl), StageGuidanceSchema, `GET ${guidanceUrl}`);
  const wonStage = guidance.stages.find((s) => s.key === won.stage);
  console.log(`\nStage guidance for ${wonStage?.name ?? won.stage} (${won.stage}): ${guidanceUrl}`);
  if (wonStage) console.log(`  ${wonStage.definition}`);
}

const log: string[] = [];
let connection: Connection | null = null;
process.once('SIGINT', async () => {
  await connection?.started?.stop();
  process.exit(130);
});
try {
  connection = await connect(log, `${Date.now().toString(36)}-${process.pid}`);
  await demo(connection.api, connection.ses, connection.source, connection.hubspot);
  const hubspot = connection.hubspot ? ', and HubSpot agrees' : '';
  console.log(`\nDemo finished: the deal went through all seven stages and is won${hubspot}.`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`\nThe demo failed: ${message}`);
  if (log.length > 0) console.error(`Local stack log:\n${log.join('\n')}`);
  process.exitCode = 1;
} finally {
  await connection?.started?.stop();
  await connection?.hubspot?.close();
}
// The in-process stack leaves client sockets and timers behind; the demo is over either way.
process.exit();
