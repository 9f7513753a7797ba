import { cpus, totalmem } from 'node:os';
import type { BoardBench } from './board.ts';
import { BOARD_LOAD } from './board.ts';
import { type Bundles, byFunction, type FunctionName } from './bundles.ts';
import type { Burst } from './burst.ts';
import type { ColdInit } from './cold-init.ts';
import type { InterleavedLoad } from './interleaved-load.ts';
import { GOALS, type RatioSpread, ratiosOf, type SomeResults } from './report.ts';
import { spreadOf } from './stats.ts';
import { LOAD } from './webhook-load.ts';

/** What a run measured; a run of some phases only (`--only`) leaves the others out. */
export interface Measurements {
  bundles: Bundles;
  won?: { transitions: number; executionArn: string; cost: { per1000: { total: number }; detail: object } };
  load?: InterleavedLoad;
  cold?: {
    runs: number;
    byTarget: Record<FunctionName | 'hello' | 'floor', ColdInit>;
    invocations: Record<FunctionName | 'hello' | 'floor', string>;
  };
  board?: BoardBench;
  burst?: Burst;
  loadAverages: Record<string, number[]>;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const roundSpread = ({ median, min, max }: RatioSpread): RatioSpread => ({
  median: round(median, 2),
  min: round(min, 2),
  max: round(max, 2),
});

/** `bench/results.json` from what was measured. */
export function toResults(measured: Measurements): SomeResults {
  const { bundles, won, load, cold, board, burst, loadAverages } = measured;
  const details: Record<string, unknown> = { bundle_heaviest_kb: byFunction((name) => bundles[name].heaviest) };
  const ratioSpread: Record<string, RatioSpread> = {};
  const results: SomeResults = { bundle_kb: byFunction((name) => bundles[name].kb) };
  if (won) {
    results.sfn_transitions_per_won_deal = won.transitions;
    results.cost_usd_per_1000_won_deals = round(won.cost.per1000.total, 4);
    details.won_deal = { execution: won.executionArn, ...won.cost.detail };
  }
  if (load) {
    Object.assign(results, {
      webhook_p50_ms: round(load.webhooks.p50Ms),
      webhook_p99_ms: round(load.webhooks.p99Ms),
      webhooks_per_s: round(load.webhooks.perSecond),
      floor_webhooks_per_s: round(load.floor.perSecond),
      floor_p50_ms: round(load.floor.p50Ms),
      floor_p99_ms: round(load.floor.p99Ms),
    });
    for (const [key, spread] of Object.entries(load.ratioSpread)) ratioSpread[key] = roundSpread(spread);
    const perRound = (r: { perSecond: number; p50Ms: number; p99Ms: number; events: number; wallSeconds: number }) => ({
      per_s: round(r.perSecond),
      p50_ms: round(r.p50Ms),
      p99_ms: round(r.p99Ms),
      events: r.events,
      wall_s: round(r.wallSeconds, 2),
    });
    details.storage_floor = {
      what:
        'per event: GetItem of the deal, then one TransactWriteItems (event record, deal, one history item), ' +
        'straight from Node with the AWS SDK on the same DynamoDB Local, in rounds interleaved with the webhook load',
      workers: LOAD.senders,
      rounds: load.floor.rounds.map(perRound),
      item_bytes: load.floor.itemBytes,
    };
    details.webhook_load = {
      senders: LOAD.senders,
      deals: LOAD.deals,
      rounds: LOAD.rounds,
      events: load.webhooks.rounds.reduce((sum, r) => sum + r.events, 0),
      warmup_events: load.webhooks.warmup.events,
      mix: 'per deal: created at identify, then field updates and forward moves (with exit fields) up to deliver',
      how:
        `${LOAD.rounds} rounds of ${LOAD.deals / LOAD.rounds} deals, each beside a floor round on the same table ` +
        '(ABBA order); figures are the medians of the rounds, the spread the range of the rounds’ ratios',
      by_round: load.webhooks.rounds.map((r) => ({ ...perRound(r), max_ms: round(r.maxMs), outcomes: r.outcomes })),
      where: 'client-side latency, sent from a worker thread; the stack runs in the main thread of the same process',
    };
  }
  if (cold) {
    const { byTarget } = cold;
    results.cold_init_ms = byFunction((name) => round(byTarget[name].medianMs));
    results.cold_init_hello_ms = round(byTarget.hello.medianMs, 2);
    results.cold_init_floor_ms = round(byTarget.floor.medianMs, 2);
    for (const name of Object.keys(results.cold_init_ms) as FunctionName[]) {
      const floorRuns = byTarget.floor.totalsMs;
      ratioSpread[`cold_init_ms.${name}`] = roundSpread(
        spreadOf(byTarget[name].totalsMs.map((ms, run) => ms / (floorRuns[run] ?? Number.NaN))),
      );
    }
    details.cold_init = {
      runs: cold.runs,
      node_flags: 'none (as deployed: no NODE_OPTIONS)',
      first_invocations: cold.invocations,
      by_function: Object.fromEntries(
        Object.entries<ColdInit>(byTarget).map(([name, c]) => [
          name,
          {
            median_ms: round(c.medianMs, 2),
            import_median_ms: round(c.importMedianMs, 2),
            cpu_median_ms: round(c.cpuMedianMs, 2),
            import_cpu_median_ms: round(c.importCpuMedianMs, 2),
            min_ms: round(c.minMs, 2),
            max_ms: round(c.maxMs, 2),
            answers: c.answers,
          },
        ]),
      ),
    };
  }
  if (board) {
    Object.assign(results, {
      board_p50_ms: round(board.p50Ms),
      board_p99_ms: round(board.p99Ms),
      board_deals: board.deals,
    });
    details.board = {
      stored_by_bench: BOARD_LOAD.deals,
      requests: BOARD_LOAD.requests,
      warmup_requests: 1,
      mean_ms: round(board.meanMs),
      max_ms: round(board.maxMs),
      page_kb: board.pageKb,
      store_s: round(board.loadSeconds, 1),
      how: 'GET /board?pipeline=default in a row over HTTP after the deals were written with BatchWrite (5 open stages)',
    };
  }
  if (burst) {
    Object.assign(results, {
      burst_deals: burst.deals,
      burst_accept_per_s: round(burst.acceptPerSecond),
      outbox_drain_per_s: round(burst.drainPerSecond),
    });
    details.burst = {
      senders: LOAD.senders,
      how:
        'new deals (created at identify, with an owner) through POST /webhooks/generic while the outbox was held ' +
        'back; then the outbox released until every one of them had its creation record handled without failure',
      intake_s: round(burst.intake.wallSeconds, 1),
      intake_p50_ms: round(burst.intake.p50Ms),
      intake_p99_ms: round(burst.intake.p99Ms),
      intake_outcomes: burst.intake.outcomes,
      drain_s: round(burst.drainSeconds, 1),
      drained: burst.drained,
      drain_dynamodb_calls: burst.drainDynamoDbCalls,
      drain_dynamodb_calls_per_deal: burst.drainDynamoDbCallsPerDeal,
      drain_dynamodb_calls_per_deal_by_item: burst.drainDynamoDbCallsPerDealByItem,
      cpu_s: burst.cpuSeconds,
    };
  }
  results.goals = GOALS;
  results.ratios = ratiosOf(results);
  results.ratio_spread = ratioSpread;
  results.details = details;
  results.machine = {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gb: round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    load_average_1_5_15_min: Object.fromEntries(
      Object.entries(loadAverages).map(([phase, averages]) => [phase, averages.map((v) => round(v, 2))]),
    ),
  };
  results.measured_at = new Date().toISOString();
  return results;
}
