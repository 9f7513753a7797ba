import type { FunctionName } from './bundles.ts';

/** The goals of issue 7, printed next to each number; the benchmark reports them, it never fails on them. */
export const GOALS = {
  webhookP99Ms: 50,
  webhooksPerSecond: 300,
  /** Import plus first invocation, over the hello-world bundle's. */
  coldInitOverHelloMs: 70,
  transitionsPerWonDeal: 25,
  usdPer1000WonDeals: 2,
  boardP99Ms: 1000,
} as const;

/** `bench/results.json`: the keys of CONTRACT section 8, then how they were measured. */
export interface BenchResults {
  webhook_p50_ms: number;
  webhook_p99_ms: number;
  webhooks_per_s: number;
  cold_init_ms: Record<FunctionName, number>;
  cold_init_hello_ms: number;
  bundle_kb: Record<FunctionName, number>;
  sfn_transitions_per_won_deal: number;
  cost_usd_per_1000_won_deals: number;
  board_p50_ms: number;
  board_p99_ms: number;
  board_deals: number;
  goals: typeof GOALS;
  details: Record<string, unknown>;
  machine: Record<string, unknown>;
  measured_at: string;
}

type Row = [metric: string, value: string, goal: string, verdict: string];

const fixed = (value: number, digits: number) => value.toFixed(digits);
const verdict = (met: boolean) => (met ? 'within goal' : 'MISSES goal');

/** The results as a readable table: metric, value, goal, and whether the value is within it. */
export function resultsTable(results: BenchResults): string {
  const coldLimit = results.cold_init_hello_ms + GOALS.coldInitOverHelloMs;
  const rows: Row[] = [
    ['webhook_p50_ms', fixed(results.webhook_p50_ms, 1), '', ''],
    [
      'webhook_p99_ms',
      fixed(results.webhook_p99_ms, 1),
      `≤ ${GOALS.webhookP99Ms}`,
      verdict(results.webhook_p99_ms <= GOALS.webhookP99Ms),
    ],
    [
      'webhooks_per_s',
      fixed(results.webhooks_per_s, 1),
      `≥ ${GOALS.webhooksPerSecond}`,
      verdict(results.webhooks_per_s >= GOALS.webhooksPerSecond),
    ],
    ['cold_init_hello_ms', fixed(results.cold_init_hello_ms, 1), '', ''],
    ...Object.entries<number>(results.cold_init_ms).map(
      ([name, ms]): Row => [
        `cold_init_ms.${name}`,
        fixed(ms, 1),
        `≤ ${fixed(coldLimit, 1)} (hello + ${GOALS.coldInitOverHelloMs})`,
        verdict(ms <= coldLimit),
      ],
    ),
    ...Object.entries<number>(results.bundle_kb).map(([name, kb]): Row => [`bundle_kb.${name}`, fixed(kb, 1), '', '']),
    [
      'sfn_transitions_per_won_deal',
      String(results.sfn_transitions_per_won_deal),
      `≤ ${GOALS.transitionsPerWonDeal}`,
      verdict(results.sfn_transitions_per_won_deal <= GOALS.transitionsPerWonDeal),
    ],
    [
      'cost_usd_per_1000_won_deals',
      fixed(results.cost_usd_per_1000_won_deals, 4),
      `≤ ${fixed(GOALS.usdPer1000WonDeals, 2)}`,
      verdict(results.cost_usd_per_1000_won_deals <= GOALS.usdPer1000WonDeals),
    ],
    ['board_p50_ms', fixed(results.board_p50_ms, 1), '', ''],
    [
      'board_p99_ms',
      fixed(results.board_p99_ms, 1),
      `≤ ${GOALS.boardP99Ms}`,
      verdict(results.board_p99_ms <= GOALS.boardP99Ms),
    ],
    ['board_deals', String(results.board_deals), '≥ 10000', verdict(results.board_deals >= 10_000)],
  ];
  const header: Row = ['metric', 'value', 'goal', ''];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: Row) =>
    row
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
