import { describe, expect, it } from 'vitest';
import { type BenchResults, GOALS, ratiosOf, resultsTable } from '../../bench/report.ts';

/** The bench prints each product figure beside its floor and the ratio. */

const results: BenchResults = {
  webhook_p50_ms: 120,
  webhook_p99_ms: 300,
  webhooks_per_s: 150,
  floor_webhooks_per_s: 300,
  floor_p50_ms: 60,
  floor_p99_ms: 100,
  cold_init_ms: {
    webhook: 130,
    approvals: 110,
    read_api: 90,
    workflow: 100,
    outbox: 120,
    rollout: 105,
    board: 140,
    digest: 115,
  },
  cold_init_hello_ms: 2,
  cold_init_floor_ms: 100,
  bundle_kb: {
    webhook: 600,
    approvals: 500,
    read_api: 400,
    workflow: 500,
    outbox: 550,
    rollout: 450,
    board: 480,
    digest: 500,
  },
  sfn_transitions_per_won_deal: 17,
  cost_usd_per_1000_won_deals: 1.5,
  board_p50_ms: 300,
  board_p99_ms: 700,
  board_deals: 10_000,
  goals: GOALS,
  ratios: {},
  details: {},
  machine: {},
  measured_at: '2026-12-02T16:00:00Z',
};

describe('bench report', () => {
  it('computes each figure over its floor', () => {
    expect(ratiosOf(results)).toEqual({
      webhooks_per_s: 0.5,
      webhook_p50_ms: 2,
      webhook_p99_ms: 3,
      'cold_init_ms.webhook': 1.3,
      'cold_init_ms.approvals': 1.1,
      'cold_init_ms.read_api': 0.9,
      'cold_init_ms.workflow': 1,
      'cold_init_ms.outbox': 1.2,
      'cold_init_ms.rollout': 1.05,
      'cold_init_ms.board': 1.4,
      'cold_init_ms.digest': 1.15,
    });
  });

  it('prints the floor and the ratio beside each figure, with the ratio goals', () => {
    const lines = resultsTable(results).split('\n');
    const row = (metric: string) => lines.find((line) => line.startsWith(`${metric} `))?.split(/\s{2,}/);
    expect(row('webhooks_per_s')).toEqual(['webhooks_per_s', '150.0', '300.0', '0.50', '≥ 0.8× floor', 'MISSES goal']);
    expect(row('webhook_p99_ms')).toEqual(['webhook_p99_ms', '300.0', '100.0', '3.00', '≤ 1.5× floor', 'MISSES goal']);
    expect(row('cold_init_ms.read_api')).toEqual([
      'cold_init_ms.read_api',
      '90.0',
      '100.0',
      '0.90',
      '≤ 1.3× floor',
      'within goal',
    ]);
  });
});
