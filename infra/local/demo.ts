import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DEFAULT_CONFIG_FILE } from '../../functions/adapters/config-files.ts';
import { ApiClient, mentions, reviewLinks } from './api-client.ts';
import { exitFields, STORY_DEAL, STORY_PIPELINE, WON_STAGE } from './default-story.ts';
import {
  clock,
  DemoError,
  describeReasons,
  getDeal,
  parsed,
  StageGuidanceSchema,
  timeline,
  waitFor,
} from './demo-answers.ts';
import { type DealSource, genericSource, hubspotNote, hubspotSource, type Step } from './demo-sources.ts';
import { HubSpotSandbox } from './hubspot-sandbox.ts';
import { DEVELOPMENT_SECRETS, type LocalStack, optionsFromEnvironment, startLocalStack } from './stack.ts';

/**
 * `npm run demo`: one deal driven through the six stages from Identify to Closed Won of the default pipeline over HTTP, the way a CRM and two
 * approvers would drive it, against the stack on PORT (or one started here), then its timeline. When the demo starts
 * the stack itself, the deal comes from HubSpot: a local HubSpot sandbox receives what Stageflow writes back and
 * prints it.
 */

/** `--finance-group`: the demo's own stack runs the default pipeline with Finance as a group of three. */
const FINANCE_GROUP = process.argv.includes('--finance-group');
const FINANCE_MEMBERS = ['ana@example.com', 'ben@example.com', 'cy@example.com'];

/**
 * The default pipeline with Finance as a group where any member decides, escalating to the CFO: written to a
 * folder of its own, which the demo's stack runs instead of `stage-config/`.
 */
function financeGroupConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stageflow-demo-'));
  const config = parse(readFileSync(DEFAULT_CONFIG_FILE, 'utf8')) as { approvers: Record<string, unknown> };
  config.approvers.finance = {
    name: 'Finance',
    members: FINANCE_MEMBERS,
    decide: 'any',
    escalateTo: 'cfo@example.com',
  };
  writeFileSync(join(dir, `${STORY_PIPELINE}.yaml`), stringify(config));
  return dir;
}

/**
 * Who approves each approval the win waits for, as the read API names the people asked: every member when a group
 * must approve unanimously, else the first person asked (one member of a group decides for it).
 */
async function approversOf(client: ApiClient, dealId: string): Promise<[role: string, to: string][]> {
  const deal = await getDeal(client, dealId);
  return deal.approvals
    .filter((a) => a.status === 'pending')
    .flatMap((a) => {
      const asked = (a.asked ?? []).filter((ask) => ask.status === 'pending').map((ask) => ask.email);
      const deciding = a.decide === 'all' ? asked : asked.slice(0, 1);
      return deciding.map((to): [string, string] => [a.role, to]);
    });
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
    if (FINANCE_GROUP) console.log('--finance-group applies to a stack the demo starts; this one runs its own config.');
    const client = apiClient(api, ses);
    return { client, ses, started: null, hubspot: null, source: genericSource(client, run) };
  }
  if (health) {
    throw new DemoError(
      `${api}/health answers ${health.status}: a stack on port ${options.port} is not healthy — ` +
        'wait for it to finish starting, or stop it and run the demo again',
    );
  }
  if (FINANCE_GROUP) {
    options.configDir = financeGroupConfig();
    options.configFile = undefined;
    console.log(
      `Finance is a group here: ${FINANCE_MEMBERS.join(', ')} (any one decides; config in ${options.configDir})`,
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
  const pipeline = stack.pipelines.get(STORY_PIPELINE);
  if (!pipeline)
    throw new DemoError(`the stack has no pipeline '${STORY_PIPELINE}' — is STAGEFLOW_CONFIG another file?`);
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
  for (const [role, to] of await approversOf(client, dealId)) await approveFromEmail(client, ses, role, to, dealId);

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

  console.log(`\nTimeline of ${dealId} (GET ${api}/deals/${dealId}?pipeline=${STORY_PIPELINE}):`);
  for (const line of timeline(final)) console.log(line);
  console.log('\nApprovals:');
  for (const a of won.approvals) {
    const when = a.decidedAt ? ` at ${clock(a.decidedAt)}` : '';
    const comment = a.comment ? `: "${a.comment}"` : '';
    console.log(`  ${a.role.padEnd(8)} ${a.status} by ${a.decidedBy ?? 'nobody'}${when}${comment}`);
  }

  const guidanceUrl = `${api}/pipelines/${STORY_PIPELINE}/stages`;
  const guidance = parsed(await client.stageGuidance(STORY_PIPELINE), StageGuidanceSchema, `GET ${guidanceUrl}`);
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
  console.log(
    `\nDemo finished: the deal went through the six stages from Identify to Closed Won and is won${hubspot}.`,
  );
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
