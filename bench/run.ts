import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, requireEnv } from '../functions/adapters/environment.ts';
import { ApiClient } from '../infra/local/api-client.ts';
import { freePort } from '../infra/local/emulators.ts';
import { type LocalStack, startLocalStack, TABLE_NAME } from '../infra/local/stack.ts';
import { BOARD_LOAD, type BoardBench, runBoardBench } from './board.ts';
import { type Bundles, buildBundles, byFunction, type FunctionName } from './bundles.ts';
import { type ColdInit, type ColdTarget, eventCapture, measureColdInits } from './cold-init.ts';
import { costOfDeals, type DealUsage, dealCost } from './cost-model.ts';
import { type DeployedFunction, deployedFunctions } from './deployment.ts';
import { dealStory, timedDelivery } from './generic-webhook.ts';
import { type BenchResults, GOALS, ratiosOf, resultsTable } from './report.ts';
import { median } from './stats.ts';
import { type FloorTemplates, measureStorageFloor, type StorageFloor } from './storage-floor.ts';
import { type MeteredUsage, meterUsage, type UsageMeter } from './usage-meter.ts';
import { LOAD, runWebhookLoad, type WebhookLoad } from './webhook-load.ts';
import { driveWonDeal, reviewLink, type WonDeal } from './won-deal.ts';

/**
 * `npm run bench`: the benchmarks against an in-process local stack (in memory, on free ports),
 * printed as a table and written to bench/results.json. It measures; it never fails on a goal.
 */

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_FILE = resolve(ROOT, 'bench/results.json');
const COLD_RUNS = 10;
const PIPELINE = 'default';

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const step = (text: string) => console.log(`· ${text}`);

/** Four distinct free ports: API, SES, DynamoDB Local, Step Functions. */
async function freePorts(): Promise<[number, number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  return [...ports] as [number, number, number, number];
}

async function startStack(log: string[]): Promise<LocalStack> {
  const [port, sesPort, dynamoDbPort, stepFunctionsPort] = await freePorts();
  return startLocalStack({
    port,
    sesPort,
    dynamoDbPort,
    stepFunctionsPort,
    publicBaseUrl: `http://127.0.0.1:${port}`,
    configDir: resolve(ROOT, 'stage-config'),
    dataDir: null,
    log: (line) => log.push(line),
  });
}

/** The handlers the stack runs (the same module instances), so the meter can time them. */
async function instrument(): Promise<UsageMeter> {
  const [webhook, approvals, readApi, workflow, outbox] = await Promise.all([
    import('../functions/webhook/handler.ts'),
    import('../functions/approvals/handler.ts'),
    import('../functions/read-api/handler.ts'),
    import('../functions/workflow/handler.ts'),
    import('../functions/outbox/handler.ts'),
  ]);
  return meterUsage({
    webhook: webhook.handler,
    approvals: approvals.handler,
    read_api: readApi.handler,
    workflow: workflow.handler,
    outbox: outbox.handler,
  });
}

function wonDealCost(won: WonDeal, usage: MeteredUsage, deployed: Record<FunctionName, DeployedFunction>) {
  const invocations = (name: FunctionName) => usage.invocations[name] ?? [];
  const dealUsage: DealUsage = {
    stateTransitions: won.transitions,
    functions: byFunction((name) => ({ ...deployed[name], durationsMs: invocations(name) })),
    dynamoDb: usage.dynamoDb,
    emails: usage.emails,
    httpApiRequests: invocations('webhook').length + invocations('approvals').length + invocations('read_api').length,
  };
  const per1000 = costOfDeals(dealCost(dealUsage), 1000);
  return {
    per1000,
    detail: {
      deal: won.dealId,
      webhooks_sent: won.webhooks,
      approval_page_requests: won.approvalRequests,
      lambda: byFunction((name) => ({
        ...deployed[name],
        invocations: invocations(name).length,
        total_ms: round(invocations(name).reduce((sum, ms) => sum + ms, 0)),
        median_ms: invocations(name).length > 0 ? round(median(invocations(name))) : null,
      })),
      dynamodb: {
        calls: usage.dynamoDb.calls,
        read_request_units: usage.dynamoDb.readRequestUnits,
        write_request_units: usage.dynamoDb.writeRequestUnits,
        failed_calls: usage.dynamoDb.failedCalls,
      },
      emails: usage.emails,
      http_api_requests: dealUsage.httpApiRequests,
      step_functions_api_calls: usage.stepFunctionsCalls,
      usd_per_1000_by_service: Object.fromEntries(Object.entries(per1000).map(([k, v]) => [k, round(v, 5)])),
      notes: [
        'Lambda durations are the handlers timed in-process (a middy middleware added by the benchmark) against ' +
          'DynamoDB Local and local SES on this machine; in AWS the calls are faster, so this errs high.',
        'DynamoDB units are what DynamoDB Local reports with ReturnConsumedCapacity=TOTAL (indexes and the 2× of ' +
          'transactions included); failed calls (lost optimistic locks) report none and are counted apart.',
        'Not included: Secrets Manager (one GetSecretValue per cold start and 5 minutes), CloudWatch Logs, X-Ray, ' +
          'free tiers; Step Functions API calls are free.',
      ],
    },
  };
}

/** A deal at `deliver` with its Finance/Legal approvals pending, and what each cold start invokes. */
async function coldTargets(stack: LocalStack, client: ApiClient, id: string, won: WonDeal, bundles: Bundles) {
  const dealId = `COLD-${id}`;
  for (const event of dealStory(dealId, `cold-${id}`).slice(0, 9)) await timedDelivery(client, event);
  const link = new URL(await reviewLink(client, 'finance@example.com', dealId));
  const capture = await eventCapture();
  let probe = 0;
  const target = (name: FunctionName | 'hello' | 'floor', event: ColdTarget['event']): ColdTarget => ({
    bundleFile: bundles[name].file,
    functionName: `stageflow-${name}`,
    event,
  });
  const targets = {
    hello: target('hello', async () => ({})),
    floor: target('floor', async () => ({})),
    webhook: target('webhook', () => {
      probe += 1;
      const { body, headers } = client.signedGeneric({
        eventId: `cold-${id}-probe-${probe}`,
        dealId,
        fields: { coldStartProbe: probe },
      });
      return capture.capture('/webhooks/generic', { method: 'POST', headers, body });
    }),
    approvals: target('approvals', () => capture.capture(`${link.pathname}${link.search}`)),
    read_api: target('read_api', () => capture.capture(`/deals/${encodeURIComponent(dealId)}?pipeline=${PIPELINE}`)),
    workflow: target('workflow', async () => ({
      action: 'closed',
      pipeline: PIPELINE,
      dealId: won.dealId,
      stage: 'closed_won',
    })),
    outbox: target('outbox', () => fieldUpdateStreamEvent(stack, dealId)),
    rollout: target('rollout', async () => rolloutOfLiveVersion(stack)),
    board: target('board', () => capture.capture(`/board?pipeline=${PIPELINE}`)),
    // EventBridge Scheduler invokes the digest with no input of its own (infra/cloud/constructs/digest-schedule.ts).
    digest: target('digest', async () => ({})),
  };
  const invocations = {
    hello: 'returns 200 without any I/O',
    floor: 'creates a DynamoDB client and makes one GetItem against DynamoDB Local → expect HTTP 200',
    webhook: `POST /webhooks/generic: a signed field update of deal ${dealId} (at deliver) → expect HTTP 202`,
    approvals: `GET /approvals/<id>?token=… of ${dealId}'s pending finance approval (review page) → expect HTTP 200`,
    read_api: `GET /deals/${dealId} → expect HTTP 200`,
    workflow: `a 'closed' task for won deal ${won.dealId} (reads it, emails its owner) → expect a return`,
    outbox: `the stream record of a field update of ${dealId} (no effect to run) → expect no batch item failure`,
    rollout: `the deploy's custom resource Update for the live version of '${PIPELINE}' (walks the open deals, none to move) → expect a return`,
    board: `GET /board?pipeline=${PIPELINE} (locally without the Cognito login) → expect HTTP 200`,
    digest: 'the scheduled stale-deal digest (reads the open deals, emails stale owners) → expect a return',
  };
  return { targets, invocations, close: capture.close };
}

/**
 * The event CloudFormation's Provider framework hands the rollout function when a deploy updates the custom resource,
 * here for the version already live: every open deal is read and none moves.
 */
function rolloutOfLiveVersion(stack: LocalStack) {
  const live = stack.pipelines.get(PIPELINE);
  if (!live) throw new Error(`the local stack has no pipeline '${PIPELINE}'`);
  const properties = { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider', Pipeline: PIPELINE };
  return {
    RequestType: 'Update',
    ServiceToken: properties.ServiceToken,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/cold',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/stageflow/cold',
    RequestId: `cold-${Date.now()}`,
    LogicalResourceId: 'ConfigRollout',
    PhysicalResourceId: `rollout/${PIPELINE}/${live.version}`,
    ResourceType: 'Custom::ConfigRollout',
    ResourceProperties: { ...properties, Version: live.version },
    OldResourceProperties: { ...properties, Version: live.version },
  };
}

/** A DynamoDB stream event as Lambda delivers it: one MODIFY record of the deal item, a field update's decision. */
async function fieldUpdateStreamEvent(stack: LocalStack, dealId: string) {
  const client = new DynamoDBClient({ endpoint: stack.dynamoDbUrl });
  const key = { pk: { S: `DEAL#${PIPELINE}#${dealId}` }, sk: { S: 'DEAL' } };
  const { Item } = await client.send(new GetItemCommand({ TableName: TABLE_NAME, Key: key }));
  if (!Item) throw new Error(`deal ${dealId} is not stored`);
  const version = Number(Item.version?.N ?? 0);
  const next = {
    ...Item,
    version: { N: String(version + 1) },
    lastDecision: {
      M: { ...(Item.lastDecision?.M ?? {}), version: { N: String(version + 1) }, kind: { S: 'event' } },
    },
  };
  return {
    Records: [
      {
        eventID: `cold-${version}`,
        eventName: 'MODIFY',
        eventSource: 'aws:dynamodb',
        dynamodb: { Keys: key, OldImage: Item, NewImage: next, SequenceNumber: String(version + 1) },
      },
    ],
  };
}

interface Measurements {
  bundles: Bundles;
  won: WonDeal;
  cost: ReturnType<typeof wonDealCost>;
  webhooks: WebhookLoad;
  coldInit: Record<FunctionName | 'hello' | 'floor', ColdInit>;
  coldInvocations: Record<FunctionName | 'hello' | 'floor', string>;
  floor: StorageFloor;
  board: BoardBench;
  loadAverages: Record<string, number[]>;
}

function toResults(measured: Measurements) {
  const { bundles, won, cost, webhooks, coldInit, coldInvocations, loadAverages, floor, board } = measured;
  const results: BenchResults = {
    webhook_p50_ms: round(webhooks.p50Ms),
    webhook_p99_ms: round(webhooks.p99Ms),
    webhooks_per_s: round(webhooks.perSecond),
    floor_webhooks_per_s: round(floor.perSecond),
    floor_p50_ms: round(floor.p50Ms),
    floor_p99_ms: round(floor.p99Ms),
    cold_init_ms: byFunction((name) => round(coldInit[name].medianMs)),
    cold_init_hello_ms: round(coldInit.hello.medianMs, 2),
    cold_init_floor_ms: round(coldInit.floor.medianMs, 2),
    bundle_kb: byFunction((name) => bundles[name].kb),
    sfn_transitions_per_won_deal: won.transitions,
    cost_usd_per_1000_won_deals: round(cost.per1000.total, 4),
    board_p50_ms: round(board.p50Ms),
    board_p99_ms: round(board.p99Ms),
    board_deals: board.deals,
    goals: GOALS,
    ratios: {},
    details: {
      storage_floor: {
        what:
          'per event: GetItem of the deal, then one TransactWriteItems (event record, deal, one history item), ' +
          'straight from Node with the AWS SDK on the same DynamoDB Local, right after the webhook load',
        workers: LOAD.senders,
        events: floor.events,
        warmup_events: LOAD.warmupDeals * LOAD.warmupEventsPerDeal,
        wall_s: round(floor.wallSeconds, 2),
        item_bytes: floor.itemBytes,
      },
      webhook_load: {
        senders: LOAD.senders,
        deals: LOAD.deals,
        events: webhooks.events,
        warmup_events: LOAD.warmupDeals * LOAD.warmupEventsPerDeal,
        mix: 'per deal: created at identify, then field updates and forward moves (with exit fields) up to deliver',
        wall_s: round(webhooks.wallSeconds, 2),
        mean_ms: round(webhooks.meanMs),
        max_ms: round(webhooks.maxMs),
        outcomes: webhooks.outcomes,
        where: 'client-side latency, sent from a worker thread; the stack runs in the main thread of the same process',
      },
      cold_init: {
        runs: COLD_RUNS,
        node_flags: 'none (as deployed: no NODE_OPTIONS)',
        first_invocations: coldInvocations,
        by_function: Object.fromEntries(
          Object.entries<ColdInit>(coldInit).map(([name, c]) => [
            name,
            {
              median_ms: round(c.medianMs, 2),
              import_median_ms: round(c.importMedianMs, 2),
              min_ms: round(c.minMs, 2),
              max_ms: round(c.maxMs, 2),
              answers: c.answers,
            },
          ]),
        ),
      },
      bundle_heaviest_kb: byFunction((name) => bundles[name].heaviest),
      won_deal: { execution: won.executionArn, ...cost.detail },
      board: {
        stored_by_bench: BOARD_LOAD.deals,
        requests: BOARD_LOAD.requests,
        warmup_requests: 1,
        mean_ms: round(board.meanMs),
        max_ms: round(board.maxMs),
        page_kb: board.pageKb,
        store_s: round(board.loadSeconds, 1),
        how: 'GET /board?pipeline=default in a row over HTTP after the deals were written with BatchWrite (5 open stages)',
      },
    },
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      memory_gb: round(totalmem() / 1024 ** 3),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      load_average_1_5_15_min: Object.fromEntries(
        Object.entries(loadAverages).map(([phase, averages]) => [phase, averages.map((v) => round(v, 2))]),
      ),
    },
    measured_at: new Date().toISOString(),
  };
  results.ratios = ratiosOf(results);
  return results;
}

async function measure(stack: LocalStack, bundles: Bundles, deployed: Record<FunctionName, DeployedFunction>) {
  const id = Date.now().toString(36);
  const loadAverages: Record<string, number[]> = {};
  const meter = await instrument();
  const secret = requireEnv('GENERIC_WEBHOOK_SECRET');
  const client = new ApiClient({ api: stack.url, ses: stack.sesUrl, secrets: { generic: secret } });

  step('driving one deal identify → closed_won with the Finance/Legal approvals');
  loadAverages.wonDeal = loadavg();
  meter.start();
  const won = await driveWonDeal(stack, client, meter, id);
  const cost = wonDealCost(won, meter.stop(), deployed);

  step(`webhook load: ${LOAD.deals * LOAD.eventsPerDeal} events over ${LOAD.deals} deals, ${LOAD.senders} senders`);
  loadAverages.webhooks = loadavg();
  const webhooks = await runWebhookLoad(stack.url, secret, id);
  await meter.idle(500, 120_000);

  step(
    `storage floor: the same ${LOAD.deals * LOAD.eventsPerDeal} events as bare DynamoDB calls, ${LOAD.senders} workers`,
  );
  loadAverages.storageFloor = loadavg();
  const floor = await measureStorageFloor(
    {
      tableName: requireEnv(ENV.tableName),
      endpoint: requireEnv(ENV.dynamoDbEndpoint),
      workers: LOAD.senders,
      deals: LOAD.deals,
      eventsPerDeal: LOAD.eventsPerDeal,
      warmupEvents: LOAD.warmupDeals * LOAD.warmupEventsPerDeal,
      prefix: id,
    },
    await floorTemplates(`LOAD-${id}-0`),
  );

  step(`cold starts: ${COLD_RUNS} fresh Node.js processes per bundle`);
  loadAverages.coldInit = loadavg();
  const cold = await coldTargets(stack, client, id, won, bundles);
  await meter.idle(500, 30_000);
  const coldInit = await measureColdInits(cold.targets, COLD_RUNS);
  await cold.close();

  step(`board: ${BOARD_LOAD.deals} open deals stored, then ${BOARD_LOAD.requests} GET /board after a warm-up`);
  loadAverages.board = loadavg();
  const board = await runBoardBench(stack, id);
  loadAverages.end = loadavg();
  return { bundles, won, cost, webhooks, coldInit, coldInvocations: cold.invocations, loadAverages, floor, board };
}

/** A deal item and a history item as the load stored them, and an event record of the repository's shape. */
async function floorTemplates(dealId: string): Promise<FloorTemplates> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: requireEnv(ENV.dynamoDbEndpoint) }));
  const TableName = requireEnv(ENV.tableName);
  const pk = `DEAL#${PIPELINE}#${dealId}`;
  const { Item: deal } = await db.send(new GetCommand({ TableName, Key: { pk, sk: 'DEAL' } }));
  const { Items: history = [] } = await db.send(
    new QueryCommand({
      TableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :h)',
      ExpressionAttributeValues: { ':pk': pk, ':h': 'HISTORY#' },
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  db.destroy();
  if (!deal || !history[0]) throw new Error(`the webhook load stored no deal ${dealId} to size the floor's items by`);
  const event = {
    record: {
      source: 'generic',
      eventId: `${dealId}-e-0000`,
      pipeline: PIPELINE,
      dealId,
      result: { outcome: 'applied', dealId, stage: 'qualify', reasons: [] },
      recordedAt: new Date().toISOString(),
      handedOff: true,
    },
    ttl: Math.floor(Date.now() / 1000) + 90 * 86_400,
  };
  return { deal, event, history: history[0] };
}

async function main(): Promise<void> {
  step('bundling the functions as CDK does (bench/.bundles/)');
  const bundles = await buildBundles();
  step('reading memory and architecture of the functions from the CDK app');
  const deployed = deployedFunctions();
  step('starting the local stack in this process (in memory, on free ports)');
  const stackLog: string[] = [];
  const stack = await startStack(stackLog);
  let measured: Measurements;
  try {
    measured = await measure(stack, bundles, deployed);
  } catch (error) {
    if (stackLog.length > 0) console.error(`Local stack log (last lines):\n${stackLog.slice(-30).join('\n')}`);
    throw error;
  } finally {
    await stack.stop();
  }
  const results = toResults(measured);
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${resultsTable(results)}\n`);
  for (const [name, c] of Object.entries<ColdInit>(measured.coldInit)) {
    console.log(
      `  cold start ${name}: ${measured.coldInvocations[name as FunctionName]} — got ${JSON.stringify(c.answers)}`,
    );
  }
  console.log(`  webhook outcomes: ${JSON.stringify(measured.webhooks.outcomes)}`);
  const oneMinute = Object.entries(measured.loadAverages).map(
    ([phase, [average = 0]]) => `${phase} ${round(average, 2)}`,
  );
  console.log(`  load average (1 min) of this ${cpus().length}-CPU machine: ${oneMinute.join(', ')}`);
  console.log(`\nWritten to ${RESULTS_FILE}`);
}

try {
  await main();
} catch (error) {
  console.error(`\nThe benchmark could not finish: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
// The in-process stack leaves client sockets and timers behind; the run is over either way.
process.exit();
