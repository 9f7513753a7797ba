import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { requireEnv } from '../functions/adapters/environment.ts';
import { ApiClient } from '../infra/local/api-client.ts';
import { freePort } from '../infra/local/emulators.ts';
import { type LocalStack, startLocalStack } from '../infra/local/stack.ts';
import { BOARD_LOAD, runBoardBench } from './board.ts';
import { type Bundles, buildBundles, byFunction, type FunctionName } from './bundles.ts';
import { BURST, runBurst } from './burst.ts';
import { type ColdInit, measureColdInits } from './cold-init.ts';
import { coldTargets } from './cold-targets.ts';
import { costOfDeals, type DealUsage, dealCost } from './cost-model.ts';
import { type DeployedFunction, deployedFunctions } from './deployment.ts';
import { runInterleavedLoad } from './interleaved-load.ts';
import { resultsTable } from './report.ts';
import { type Measurements, toResults } from './results.ts';
import { median } from './stats.ts';
import { type MeteredUsage, meterUsage } from './usage-meter.ts';
import { LOAD } from './webhook-load.ts';
import { driveWonDeal, type WonDeal } from './won-deal.ts';

/**
 * `npm run bench`: the benchmarks against an in-process local stack (in memory, on free ports),
 * printed as a table and written to bench/results.json. It measures; it never fails on a goal.
 */

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS_FILE = resolve(ROOT, 'bench/results.json');
/** Where a run of some phases only writes (git-ignored), so bench/results.json always holds a whole run. */
const PARTIAL_RESULTS_FILE = resolve(ROOT, 'bench/results.partial.json');
const COLD_RUNS = 10;

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

/**
 * The handlers the stack runs (the same module instances), so the meter can time them; the outbox's handler is also
 * handed out, so the bulk import can watch its batches.
 */
async function instrument() {
  const [webhook, approvals, readApi, workflow, outbox] = await Promise.all([
    import('../functions/webhook/handler.ts'),
    import('../functions/approvals/handler.ts'),
    import('../functions/read-api/handler.ts'),
    import('../functions/workflow/handler.ts'),
    import('../functions/outbox/handler.ts'),
  ]);
  const usage = meterUsage({
    webhook: webhook.handler,
    approvals: approvals.handler,
    read_api: readApi.handler,
    workflow: workflow.handler,
    outbox: outbox.handler,
  });
  return { usage, outbox: outbox.handler };
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

/** The phases of a run, in the order they run; `--only <phase>,…` runs some of them (the won deal always runs). */
const PHASES = ['won', 'webhooks', 'cold', 'board', 'burst'] as const;
type Phase = (typeof PHASES)[number];

function phasesFromArguments(argv: string[]): Set<Phase> {
  const at = argv.indexOf('--only');
  if (at === -1) return new Set(PHASES);
  const asked = (argv[at + 1] ?? '').split(',').filter(Boolean);
  const unknown = asked.filter((phase) => !(PHASES as readonly string[]).includes(phase));
  if (asked.length === 0 || unknown.length > 0) {
    throw new Error(`--only takes phases from ${PHASES.join(', ')} (got '${argv[at + 1] ?? ''}')`);
  }
  return new Set(['won', ...asked] as Phase[]);
}

async function measure(
  stack: LocalStack,
  bundles: Bundles,
  deployed: Record<FunctionName, DeployedFunction>,
  phases: Set<Phase>,
): Promise<Measurements> {
  const id = Date.now().toString(36);
  const loadAverages: Record<string, number[]> = {};
  const meter = await instrument();
  const secret = requireEnv('GENERIC_WEBHOOK_SECRET');
  const client = new ApiClient({ api: stack.url, ses: stack.sesUrl, secrets: { generic: secret } });
  const measured: Measurements = { bundles, loadAverages };

  step('driving one deal identify → closed_won with the Finance/Legal approvals');
  loadAverages.wonDeal = loadavg();
  meter.usage.start();
  const won = await driveWonDeal(stack, client, meter.usage, id);
  measured.won = { ...won, cost: wonDealCost(won, meter.usage.stop(), deployed) };

  if (phases.has('webhooks')) {
    step(
      `webhook load and storage floor in ${LOAD.rounds} interleaved rounds: ${LOAD.deals * LOAD.eventsPerDeal} ` +
        `events over ${LOAD.deals} deals each, ${LOAD.senders} senders`,
    );
    loadAverages.webhooks = loadavg();
    measured.load = await runInterleavedLoad(stack.url, secret, id);
    await meter.usage.idle(500, 120_000);
  }

  if (phases.has('cold')) {
    step(`cold starts: ${COLD_RUNS} fresh Node.js processes per bundle`);
    loadAverages.coldInit = loadavg();
    const cold = await coldTargets(stack, client, id, won, bundles);
    await meter.usage.idle(500, 30_000);
    const byTarget = await measureColdInits(cold.targets, COLD_RUNS);
    await cold.close();
    measured.cold = { runs: COLD_RUNS, byTarget, invocations: cold.invocations };
  }

  if (phases.has('board')) {
    step(`board: ${BOARD_LOAD.deals} open deals stored, then ${BOARD_LOAD.requests} GET /board after a warm-up`);
    loadAverages.board = loadavg();
    measured.board = await runBoardBench(stack, id);
  }

  if (phases.has('burst')) {
    step(`bulk import: ${BURST.deals} new deals, ${BURST.senders} senders, outbox held back; then the outbox drains`);
    await meter.usage.idle(500, 120_000);
    loadAverages.burst = loadavg();
    measured.burst = await runBurst(stack, secret, meter.outbox, meter.usage, id);
  }
  loadAverages.end = loadavg();
  return measured;
}

async function main(): Promise<void> {
  const phases = phasesFromArguments(process.argv.slice(2));
  const everything = phases.size === PHASES.length;
  step('bundling the functions as CDK does (bench/.bundles/)');
  const bundles = await buildBundles();
  step('reading memory and architecture of the functions from the CDK app');
  const deployed = deployedFunctions();
  step('starting the local stack in this process (in memory, on free ports)');
  const stackLog: string[] = [];
  const stack = await startStack(stackLog);
  let measured: Measurements;
  try {
    measured = await measure(stack, bundles, deployed, phases);
  } catch (error) {
    if (stackLog.length > 0) console.error(`Local stack log (last lines):\n${stackLog.slice(-30).join('\n')}`);
    throw error;
  } finally {
    await stack.stop();
  }
  const results = toResults(measured);
  const file = everything ? RESULTS_FILE : PARTIAL_RESULTS_FILE;
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${resultsTable(results)}\n`);
  for (const [name, c] of Object.entries<ColdInit>(measured.cold?.byTarget ?? {})) {
    console.log(
      `  cold start ${name}: ${measured.cold?.invocations[name as FunctionName]} — got ${JSON.stringify(c.answers)}`,
    );
  }
  for (const [i, r] of (measured.load?.webhooks.rounds ?? []).entries()) {
    console.log(`  webhook round ${i + 1} outcomes: ${JSON.stringify(r.outcomes)}`);
  }
  if (measured.burst) {
    const { intake, drained, drainDynamoDbCalls, drainDynamoDbCallsPerDeal, cpuSeconds } = measured.burst;
    console.log(`  bulk import outcomes: ${JSON.stringify(intake.outcomes)}; drain did ${JSON.stringify(drained)}`);
    console.log(
      `  drain DynamoDB calls: ${drainDynamoDbCallsPerDeal} per deal ${JSON.stringify(drainDynamoDbCalls)}; ` +
        `CPU s intake ${JSON.stringify(cpuSeconds.intake)}, drain ${JSON.stringify(cpuSeconds.drain)}`,
    );
  }
  const oneMinute = Object.entries(measured.loadAverages).map(
    ([phase, [average = 0]]) => `${phase} ${round(average, 2)}`,
  );
  console.log(`  load average (1 min) of this ${cpus().length}-CPU machine: ${oneMinute.join(', ')}`);
  console.log(`\nWritten to ${file}`);
}

try {
  await main();
} catch (error) {
  console.error(`\nThe benchmark could not finish: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
// The in-process stack leaves client sockets and timers behind; the run is over either way.
process.exit();
