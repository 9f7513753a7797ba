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
} as const;

/** `bench/results.json`: the published keys (docs/performance.md), then how they were measured. */
export interface BenchResults {
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
  goals: typeof GOALS;
  /** Each product figure over its floor. */
  ratios: Record<string, number>;
  details: Record<string, unknown>;
  machine: Record<string, unknown>;
  measured_at: string;
}

type Row = [metric: string, value: string, floor: string, ratio: string, goal: string, verdict: string];

const fixed = (value: number, digits: number) => value.toFixed(digits);
const verdict = (met: boolean) => (met ? 'within goal' : 'MISSES goal');
const ratio = (value: number, floor: number) => Math.round((value / floor) * 100) / 100;

/** Each product figure over its floor, rounded to two decimals. */
export function ratiosOf(results: BenchResults): Record<string, number> {
  return {
    webhooks_per_s: ratio(results.webhooks_per_s, results.floor_webhooks_per_s),
    webhook_p50_ms: ratio(results.webhook_p50_ms, results.floor_p50_ms),
    webhook_p99_ms: ratio(results.webhook_p99_ms, results.floor_p99_ms),
    ...Object.fromEntries(
      Object.entries<number>(results.cold_init_ms).map(([name, ms]) => [
        `cold_init_ms.${name}`,
        ratio(ms, results.cold_init_floor_ms),
      ]),
    ),
  };
}

/** The results as a readable table: each figure beside its floor, the ratio, the goal and whether it is met. */
export function resultsTable(results: BenchResults): string {
  const ratios = ratiosOf(results);
  const r = (key: string) => fixed(ratios[key] ?? Number.NaN, 2);
  const rows: Row[] = [
    [
      'webhooks_per_s',
      fixed(results.webhooks_per_s, 1),
      fixed(results.floor_webhooks_per_s, 1),
      r('webhooks_per_s'),
      `≥ ${GOALS.webhooksPerSecondOfFloor}× floor`,
      verdict((ratios.webhooks_per_s ?? 0) >= GOALS.webhooksPerSecondOfFloor),
    ],
    ['webhook_p50_ms', fixed(results.webhook_p50_ms, 1), fixed(results.floor_p50_ms, 1), r('webhook_p50_ms'), '', ''],
    [
      'webhook_p99_ms',
      fixed(results.webhook_p99_ms, 1),
      fixed(results.floor_p99_ms, 1),
      r('webhook_p99_ms'),
      `≤ ${GOALS.webhookP99OfFloor}× floor`,
      verdict((ratios.webhook_p99_ms ?? Number.POSITIVE_INFINITY) <= GOALS.webhookP99OfFloor),
    ],
    ['cold_init_hello_ms', fixed(results.cold_init_hello_ms, 1), '', '', '', ''],
    ...Object.entries<number>(results.cold_init_ms).map(
      ([name, ms]): Row => [
        `cold_init_ms.${name}`,
        fixed(ms, 1),
        fixed(results.cold_init_floor_ms, 1),
        r(`cold_init_ms.${name}`),
        `≤ ${GOALS.coldInitOfFloor}× floor`,
        verdict((ratios[`cold_init_ms.${name}`] ?? Number.POSITIVE_INFINITY) <= GOALS.coldInitOfFloor),
      ],
    ),
    ...Object.entries<number>(results.bundle_kb).map(
      ([name, kb]): Row => [`bundle_kb.${name}`, fixed(kb, 1), '', '', '', ''],
    ),
    [
      'sfn_transitions_per_won_deal',
      String(results.sfn_transitions_per_won_deal),
      '',
      '',
      `≤ ${GOALS.transitionsPerWonDeal}`,
      verdict(results.sfn_transitions_per_won_deal <= GOALS.transitionsPerWonDeal),
    ],
    [
      'cost_usd_per_1000_won_deals',
      fixed(results.cost_usd_per_1000_won_deals, 4),
      '',
      '',
      `≤ ${fixed(GOALS.usdPer1000WonDeals, 2)}`,
      verdict(results.cost_usd_per_1000_won_deals <= GOALS.usdPer1000WonDeals),
    ],
    ['board_p50_ms', fixed(results.board_p50_ms, 1), '', '', '', ''],
    [
      'board_p99_ms',
      fixed(results.board_p99_ms, 1),
      '',
      '',
      `≤ ${GOALS.boardP99Ms}`,
      verdict(results.board_p99_ms <= GOALS.boardP99Ms),
    ],
    ['board_deals', String(results.board_deals), '', '', '≥ 10000', verdict(results.board_deals >= 10_000)],
  ];
  const header: Row = ['metric', 'value', 'floor', 'ratio', 'goal', ''];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: Row) =>
    row
      .map((cell, i) => (i >= 1 && i <= 3 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
