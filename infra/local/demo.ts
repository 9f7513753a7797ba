import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type Fields, OUTCOMES, type Outcome } from '../../functions/core/deal.ts';
import type { PipelineConfig } from '../../functions/core/pipeline-config.ts';
import { crmStageValue } from '../../functions/sources/crm-maps.ts';
import { ApiClient, type ApiResponse, mentions, reviewLinks } from './api-client.ts';
import { exitFields, STORY_DEAL, WON_STAGE } from './default-story.ts';
import { HubSpotSandbox } from './hubspot-sandbox.ts';
import { DEVELOPMENT_SECRETS, type LocalStack, optionsFromEnvironment, startLocalStack } from './stack.ts';

/**
 * `npm run demo`: one deal driven through all seven stages of the default pipeline over HTTP, the way a CRM and two
 * approvers would drive it, against the stack on PORT (or one started here), then its timeline. When the demo starts
 * the stack itself, the deal comes from HubSpot: a local HubSpot sandbox receives what Stageflow writes back and
 * prints it.
 */

const PIPELINE = 'default';
const WAIT_MS = 30_000;
const APPROVERS = [
  ['finance', 'finance@example.com'],
  ['legal', 'legal@example.com'],
] as const;

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

/** Each move brings what the stage it leaves needed; two moves break the rules on purpose to show the refusals. */
function story(): Step[] {
  const { budgetConfirmed, ...beforeBudget } = exitFields('qualify');
  return [
    { stage: 'identify', fields: STORY_DEAL.fields, expected: 'applied', why: 'the deal is created' },
    {
      stage: 'qualify',
      fields: exitFields('identify'),
      expected: 'applied',
      why: 'decision maker named, first meeting held',
    },
    { stage: 'negotiate', fields: {}, expected: 'rejected', why: 'a skip past propose, refused' },
    {
      stage: 'propose',
      fields: beforeBudget,
      expected: 'rejected',
      why: 'the budget is not confirmed yet, refused (the champion is kept)',
    },
    { stage: 'propose', fields: { budgetConfirmed }, expected: 'applied', why: 'budget confirmed' },
    {
      stage: 'negotiate',
      fields: { ...exitFields('propose'), discountPercent: 10 },
      expected: 'applied',
      why: 'quote and pricing presented, close plan agreed (10% discount needs no sales manager)',
    },
    {
      stage: 'deliver',
      fields: exitFields('negotiate'),
      expected: 'applied',
      why: 'signature package ready: the Finance/Legal handoff starts',
    },
    {
      stage: WON_STAGE,
      fields: exitFields('deliver'),
      expected: 'pending_approval',
      why: 'contract and order form signed: the win waits for Finance and Legal',
    },
  ];
}

/** The answer's body, checked against `schema`. */
function parsed<T>(response: ApiResponse, schema: z.ZodType<T>, what: string): T {
  if (response.body === undefined) {
    throw new DemoError(
      `${what} answered ${response.status} with a body that is not JSON: ${response.text.slice(0, 200)}`,
    );
  }
  const result = schema.safeParse(response.body);
  if (!result.success) {
    throw new DemoError(
      `${what} answered ${response.status} with ${response.text.slice(0, 300)}\n${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

/** The answer to a webhook: 202 with its decision; a refused signature says which secrets to set. */
function webhookAnswer<T>(response: ApiResponse, path: string, schema: z.ZodType<T>): T {
  if (response.status === 401) {
    throw new DemoError(
      `the stack refused the signature of POST ${path} (401) — run the demo with the secrets the stack uses ` +
        '(GENERIC_WEBHOOK_SECRET, HUBSPOT_CLIENT_SECRET)',
    );
  }
  if (response.status !== 202) {
    throw new DemoError(`POST ${path} answered ${response.status}: ${response.text.slice(0, 300)}`);
  }
  return parsed(response, schema, `POST ${path}`);
}

function formattedAmount(): string {
  const { amount, currency } = STORY_DEAL.fields;
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);
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

/** A CRM that sends Stageflow's generic signed JSON webhook and hears nothing back. */
function genericSource(client: ApiClient, run: string): DealSource {
  const dealId = `DEMO-${run}`;
  const { dealName, owner } = STORY_DEAL;
  let eventCount = 0;
  return {
    dealId,
    intro: [
      `Deal ${dealId} "${dealName}", owner ${owner.name} <${owner.email}>, amount ${formattedAmount()}`,
      '',
      'The CRM sends signed webhooks (POST /webhooks/generic):',
    ],
    async move({ stage, fields }) {
      eventCount++;
      const eventId = `demo-${run}-${eventCount}`;
      const response = await client.postGeneric({
        eventId,
        dealId,
        pipeline: PIPELINE,
        stage,
        dealName,
        owner,
        fields,
      });
      return webhookAnswer(response, '/webhooks/generic', WebhookAnswerSchema);
    },
    writtenBack: async () => [],
  };
}

/**
 * A HubSpot deal: the rep drags it in the HubSpot sandbox, HubSpot's signed webhooks v3 batch reports each move with
 * the properties filled in, and the sandbox receives Stageflow's write-back.
 */
function hubspotSource(client: ApiClient, hubspot: HubSpotSandbox, config: PipelineConfig): DealSource {
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
      `Deal ${dealId} "${STORY_DEAL.dealName}" in HubSpot, amount ${formattedAmount()}`,
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
        ...(created ? [property('dealname', STORY_DEAL.dealName)] : []),
        ...Object.entries(step.fields).map(([name, field]) => property(name, field)),
        property('dealstage', value.value),
      ];
      const batch = z.object({ results: z.array(WebhookAnswerSchema) });
      const answer = webhookAnswer(await client.postHubspot(events), '/webhooks/hubspot', batch);
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

async function getDeal(client: ApiClient, dealId: string): Promise<DealView> {
  const response = await client.getDeal(dealId, PIPELINE);
  if (response.status !== 200) throw new DemoError(`GET /deals/${dealId} answered ${response.status}`);
  return parsed(response, DealSchema, `GET /deals/${dealId}`);
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

/** The approver opens the approval email about `dealId` (once local SES holds it) and approves through its link. */
async function approveFromEmail(client: ApiClient, ses: string, role: string, to: string, dealId: string) {
  const email = await waitFor(async () => {
    const emails = await client.sentEmails();
    return emails.find((e) => e.destination.to.includes(to) && mentions(e, dealId) && reviewLinks(e).length > 0);
  }, `the approval email to ${to} in local SES (${ses}/)`);
  const links = reviewLinks(email);
  const [link] = links;
  if (links.length !== 1 || link === undefined) {
    throw new DemoError(`the approval email to ${to} holds ${links.length} review links instead of exactly one`);
  }
  console.log(`  ${role}: email to ${to}, "${email.subject}"`);
  const { title, confirmation } = await client.approveThroughPage(link, `Signed contract details checked by ${role}.`);
  console.log(`    opened the review page (200, "${title}"), pressed Approve (200, "${confirmation}")`);
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
  client: ApiClient;
  ses: string;
  /** The stack this process started, or null when one was running already. */
  started: LocalStack | null;
  /** The HubSpot sandbox the started stack writes back to. */
  hubspot: HubSpotSandbox | null;
  source: DealSource;
}

function apiClient(api: string, ses: string): ApiClient {
  const secrets = {
    generic: process.env.GENERIC_WEBHOOK_SECRET || DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET,
    hubspot: process.env.HUBSPOT_CLIENT_SECRET || DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET,
  };
  return new ApiClient({ api, ses, secrets, timeoutMs: 10_000 });
}

/**
 * The stack on PORT when its `/health` answers 200, with the deal sent through the generic webhook (that stack writes
 * back wherever it was told to, so the demo sends it no CRM deal); otherwise one started in this process (and stopped
 * at the end), writing back to a HubSpot sandbox, with the deal coming from HubSpot.
 */
async function connect(log: string[], run: string): Promise<Connection> {
  const options = optionsFromEnvironment(process.env.STAGEFLOW_DATA_DIR ? [] : ['--in-memory']);
  const api = `http://127.0.0.1:${options.port}`;
  const ses = `http://127.0.0.1:${options.sesPort}`;
  const health = await new ApiClient({ api, timeoutMs: 3_000 }).request('/health').catch(() => null);
  if (health?.status === 200) {
    console.log(`Using the stack already running at ${api} (mail viewer ${ses}/)`);
    console.log(
      'The deal comes through the generic webhook: the HubSpot round trip runs when the demo starts its own stack ' +
        '(stop this one, or set PORT to a free port).',
    );
    const client = apiClient(api, ses);
    return { client, ses, started: null, hubspot: null, source: genericSource(client, run) };
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
  // The demo's stack writes back to the sandbox, never to a HubSpot account the environment may name.
  process.env.HUBSPOT_ACCESS_TOKEN = hubspot.accessToken;
  process.env.HUBSPOT_API_BASE_URL = hubspot.url;
  const stack = await startLocalStack({ ...options, log: (line) => log.push(line) });
  console.log(`Started: API ${stack.url}, mail viewer ${stack.sesUrl}/, HubSpot stand-in ${hubspot.url}`);
  const pipeline = stack.pipelines.get(PIPELINE);
  if (!pipeline) throw new DemoError(`the stack has no pipeline '${PIPELINE}' — is STAGEFLOW_CONFIG another file?`);
  const client = apiClient(stack.url, stack.sesUrl);
  return {
    client,
    ses: stack.sesUrl,
    started: stack,
    hubspot,
    source: hubspotSource(client, hubspot, pipeline.config),
  };
}

async function demo({ client, ses, source, hubspot }: Connection): Promise<void> {
  const { dealId } = source;
  const { api } = client;
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
  for (const [role, to] of APPROVERS) await approveFromEmail(client, ses, role, to, dealId);

  console.log(`\nThe last approval lets the pending move to ${WON_STAGE} apply by itself; waiting for it…`);
  const won = await waitFor(async () => {
    const deal = await getDeal(client, dealId);
    if (deal.status === 'lost') throw new DemoError(`deal ${dealId} was closed lost instead of won`);
    return deal.status === 'won' ? deal : undefined;
  }, `deal ${dealId} to be won (GET ${api}/deals/${dealId})`);
  console.log(`  deal ${dealId} is ${won.status}, stage ${won.stage}`);
  let final = won;
  if (hubspot) {
    console.log(`  ${await hubspotNote(hubspot, dealId, notesBeforeApprovals)}`);
    final = await waitFor(async () => {
      const deal = await getDeal(client, dealId);
      return deal.history.some((h) => h.type === 'crm_sync' && h.to === WON_STAGE) ? deal : undefined;
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
  const guidance = parsed(await client.stageGuidance(PIPELINE), StageGuidanceSchema, `GET ${guidanceUrl}`);
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
  await demo(connection);
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
