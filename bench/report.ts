import type { FunctionName } from './bundles.ts';

/**
 * The goals, as ratios to floors measured in the same run on the same machine (absolute figures would measure the
 * machine and DynamoDB Local more than Stageflow; see docs/performance.md). The benchmark reports them; it never fails on them.
 */
export const GOALS = {
  /** webhooks_per_s ≥ this × floor_webhooks_per_s */
  webhooksPerSecondOfFloor: 0.8,
  /** webhook_p99_ms ≤ this × floor_p99_ms */
  webhookP99OfFloor: 1.5,
  /** every cold_init_ms ≤ this × cold_init_floor_ms */
  coldInitOfFloor: 1.3,
  transitionsPerWonDeal: 25,
  usdPer1000WonDeals: 2,
  boardP99Ms: 1000,
  /** outbox_drain_per_s ≥ this × burst_accept_per_s: side effects keep up with the fastest intake */
  drainOfAccept: 1,
  /** burst_deals ≥ this */
  burstDeals: 10_000,
} as const;

/** A ratio's median over the rounds that measured it, and the range of the rounds' own ratios. */
export interface RatioSpread {
  median: number;
  min: number;
  max: number;
}

/** `bench/results.json`: the published keys (docs/performance.md), then how they were measured. */
export interface BenchResults {
  /** Medians of the interleaved rounds (webhook load and storage floor alternating on the same table). */
  webhook_p50_ms: number;
  webhook_p99_ms: number;
  webhooks_per_s: number;
  /** The storage floor: the webhook load's DynamoDB calls alone, straight from Node. */
  floor_webhooks_per_s: number;
  floor_p50_ms: number;
  floor_p99_ms: number;
  cold_init_ms: Record<FunctionName, number>;
  cold_init_hello_ms: number;
  /** A bundled handler that creates a DynamoDB client and makes one GetItem: the least a function can cost. */
  cold_init_floor_ms: number;
  bundle_kb: Record<FunctionName, number>;
  sfn_transitions_per_won_deal: number;
  cost_usd_per_1000_won_deals: number;
  board_p50_ms: number;
  board_p99_ms: number;
  board_deals: number;
  /** The bulk import: new deals sent while the outbox was held back. */
  burst_deals: number;
  /** Deals per second the webhook accepted during the import. */
  burst_accept_per_s: number;
  /** Deals per second the outbox alone worked the backlog off, until every deal's effects were done. */
  outbox_drain_per_s: number;
  goals: typeof GOALS;
  /** Each product figure over its floor. */
  ratios: Record<string, number>;
  /** For the ratios measured in rounds: the median and the range of the rounds' own ratios. */
  ratio_spread: Record<string, RatioSpread>;
  details: Record<string, unknown>;
  machine: Record<string, unknown>;
  measured_at: string;
}

/** Results of a run of some phases only (`npm run bench -- --only cold,burst`). */
export type SomeResults = Partial<BenchResults>;

type Row = [metric: string, value: string, floor: string, ratio: string, spread: string, goal: string, verdict: string];

const fixed = (value: number, digits: number) => value.toFixed(digits);
const verdict = (met: boolean) => (met ? 'within goal' : 'MISSES goal');
const ratio = (value: number, floor: number) => Math.round((value / floor) * 100) / 100;

/** Each product figure over its floor (the drain over the intake), rounded to two decimals; only what was measured. */
export function ratiosOf(results: SomeResults): Record<string, number> {
  const ratios: Record<string, number> = {};
  if (results.webhooks_per_s !== undefined && results.floor_webhooks_per_s !== undefined) {
    ratios.webhooks_per_s = ratio(results.webhooks_per_s, results.floor_webhooks_per_s);
  }
  if (results.webhook_p50_ms !== undefined && results.floor_p50_ms !== undefined) {
    ratios.webhook_p50_ms = ratio(results.webhook_p50_ms, results.floor_p50_ms);
  }
  if (results.webhook_p99_ms !== undefined && results.floor_p99_ms !== undefined) {
    ratios.webhook_p99_ms = ratio(results.webhook_p99_ms, results.floor_p99_ms);
  }
  const coldFloor = results.cold_init_floor_ms;
  if (results.cold_init_ms && coldFloor !== undefined) {
    for (const [name, ms] of Object.entries<number>(results.cold_init_ms)) {
      ratios[`cold_init_ms.${name}`] = ratio(ms, coldFloor);
    }
  }
  if (results.outbox_drain_per_s !== undefined && results.burst_accept_per_s !== undefined) {
    ratios.outbox_drain_per_s = ratio(results.outbox_drain_per_s, results.burst_accept_per_s);
  }
  return ratios;
}

/**
 * The results as a readable table: each figure beside its floor, the ratio and the range of the rounds' ratios, the
 * goal and whether it is met. Figures a run did not measure are left out.
 */
export function resultsTable(results: SomeResults): string {
  const ratios = ratiosOf(results);
  const r = (key: string) => fixed(ratios[key] ?? Number.NaN, 2);
  const spread = (key: string) => {
    const range = results.ratio_spread?.[key];
    return range ? `${fixed(range.min, 2)}–${fixed(range.max, 2)}` : '';
  };
  const rows: Row[] = [];
  const add = (measured: boolean, row: () => Row) => {
    if (measured) rows.push(row());
  };
  const {
    webhooks_per_s: perSecond,
    floor_webhooks_per_s: floorPerSecond,
    webhook_p50_ms: p50,
    floor_p50_ms: floorP50,
    webhook_p99_ms: p99,
    floor_p99_ms: floorP99,
  } = results;
  add(perSecond !== undefined && floorPerSecond !== undefined, () => [
    'webhooks_per_s',
    fixed(perSecond ?? 0, 1),
    fixed(floorPerSecond ?? 0, 1),
    r('webhooks_per_s'),
    spread('webhooks_per_s'),
    `≥ ${GOALS.webhooksPerSecondOfFloor}× floor`,
    verdict((ratios.webhooks_per_s ?? 0) >= GOALS.webhooksPerSecondOfFloor),
  ]);
  add(p50 !== undefined && floorP50 !== undefined, () => [
    'webhook_p50_ms',
    fixed(p50 ?? 0, 1),
    fixed(floorP50 ?? 0, 1),
    r('webhook_p50_ms'),
    spread('webhook_p50_ms'),
    '',
    '',
  ]);
  add(p99 !== undefined && floorP99 !== undefined, () => [
    'webhook_p99_ms',
    fixed(p99 ?? 0, 1),
    fixed(floorP99 ?? 0, 1),
    r('webhook_p99_ms'),
    spread('webhook_p99_ms'),
    `≤ ${GOALS.webhookP99OfFloor}× floor`,
    verdict((ratios.webhook_p99_ms ?? Number.POSITIVE_INFINITY) <= GOALS.webhookP99OfFloor),
  ]);
  const hello = results.cold_init_hello_ms;
  add(hello !== undefined, () => ['cold_init_hello_ms', fixed(hello ?? 0, 1), '', '', '', '', '']);
  const coldFloor = results.cold_init_floor_ms ?? Number.NaN;
  for (const [name, ms] of Object.entries<number>(results.cold_init_ms ?? {})) {
    const key = `cold_init_ms.${name}`;
    rows.push([
      key,
      fixed(ms, 1),
      fixed(coldFloor, 1),
      r(key),
      spread(key),
      `≤ ${GOALS.coldInitOfFloor}× floor`,
      verdict((ratios[key] ?? Number.POSITIVE_INFINITY) <= GOALS.coldInitOfFloor),
    ]);
  }
  for (const [name, kb] of Object.entries<number>(results.bundle_kb ?? {})) {
    rows.push([`bundle_kb.${name}`, fixed(kb, 1), '', '', '', '', '']);
  }
  const { sfn_transitions_per_won_deal: transitions, cost_usd_per_1000_won_deals: cost } = results;
  add(transitions !== undefined, () => [
    'sfn_transitions_per_won_deal',
    String(transitions),
    '',
    '',
    '',
    `≤ ${GOALS.transitionsPerWonDeal}`,
    verdict((transitions ?? Number.POSITIVE_INFINITY) <= GOALS.transitionsPerWonDeal),
  ]);
  add(cost !== undefined, () => [
    'cost_usd_per_1000_won_deals',
    fixed(cost ?? 0, 4),
    '',
    '',
    '',
    `≤ ${fixed(GOALS.usdPer1000WonDeals, 2)}`,
    verdict((cost ?? Number.POSITIVE_INFINITY) <= GOALS.usdPer1000WonDeals),
  ]);
  const { board_p50_ms: boardP50, board_p99_ms: boardP99, board_deals: boardDeals } = results;
  add(boardP50 !== undefined, () => ['board_p50_ms', fixed(boardP50 ?? 0, 1), '', '', '', '', '']);
  add(boardP99 !== undefined, () => [
    'board_p99_ms',
    fixed(boardP99 ?? 0, 1),
    '',
    '',
    '',
    `≤ ${GOALS.boardP99Ms}`,
    verdict((boardP99 ?? Number.POSITIVE_INFINITY) <= GOALS.boardP99Ms),
  ]);
  add(boardDeals !== undefined, () => [
    'board_deals',
    String(boardDeals),
    '',
    '',
    '',
    '≥ 10000',
    verdict((boardDeals ?? 0) >= 10_000),
  ]);
  const { burst_deals: burstDeals, burst_accept_per_s: accept, outbox_drain_per_s: drain } = results;
  add(burstDeals !== undefined, () => [
    'burst_deals',
    String(burstDeals),
    '',
    '',
    '',
    `≥ ${GOALS.burstDeals}`,
    verdict((burstDeals ?? 0) >= GOALS.burstDeals),
  ]);
  add(drain !== undefined && accept !== undefined, () => [
    'outbox_drain_per_s',
    fixed(drain ?? 0, 1),
    fixed(accept ?? 0, 1),
    r('outbox_drain_per_s'),
    '',
    `≥ ${GOALS.drainOfAccept}× burst_accept_per_s`,
    verdict((ratios.outbox_drain_per_s ?? 0) >= GOALS.drainOfAccept),
  ]);
  add(accept !== undefined, () => ['burst_accept_per_s', fixed(accept ?? 0, 1), '', '', '', '', '']);
  const header: Row = ['metric', 'value', 'floor', 'ratio', 'spread', 'goal', ''];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: Row) =>
    row
      .map((cell, i) => (i >= 1 && i <= 4 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
