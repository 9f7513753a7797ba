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
    webhook_hubspot: 125,
    webhook_pipedrive: 125,
    webhook_salesforce: 128,
    approvals: 110,
    read_api: 90,
    workflow: 100,
    outbox: 120,
    rollout: 105,
    board: 140,
    digest: 115,
    mail_events: 108,
  },
  cold_init_hello_ms: 2,
  cold_init_floor_ms: 100,
  bundle_kb: {
    webhook: 600,
    webhook_hubspot: 520,
    webhook_pipedrive: 520,
    webhook_salesforce: 580,
    approvals: 500,
    read_api: 400,
    workflow: 500,
    outbox: 550,
    rollout: 450,
    board: 480,
    digest: 500,
    mail_events: 392,
  },
  sfn_transitions_per_won_deal: 17,
  cost_usd_per_1000_won_deals: 1.5,
  board_p50_ms: 300,
  board_p99_ms: 700,
  board_deals: 10_000,
  burst_deals: 10_000,
  burst_accept_per_s: 80,
  outbox_drain_per_s: 100,
  goals: GOALS,
  ratios: {},
  ratio_spread: { webhooks_per_s: { median: 0.5, min: 0.42, max: 0.61 } },
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
      'cold_init_ms.webhook_hubspot': 1.25,
      'cold_init_ms.webhook_pipedrive': 1.25,
      'cold_init_ms.webhook_salesforce': 1.28,
      'cold_init_ms.approvals': 1.1,
      'cold_init_ms.read_api': 0.9,
      'cold_init_ms.workflow': 1,
      'cold_init_ms.outbox': 1.2,
      'cold_init_ms.rollout': 1.05,
      'cold_init_ms.board': 1.4,
      'cold_init_ms.digest': 1.15,
      'cold_init_ms.mail_events': 1.08,
      outbox_drain_per_s: 1.25,
    });
  });

  it('prints the floor and the ratio beside each figure, with the ratio goals', () => {
    const lines = resultsTable(results).split('\n');
    const row = (metric: string) => lines.find((line) => line.startsWith(`${metric} `))?.split(/\s{2,}/);
    expect(row('webhooks_per_s')).toEqual([
      'webhooks_per_s',
      '150.0',
      '300.0',
      '0.50',
      '0.42–0.61',
      '≥ 0.8× floor',
      'MISSES goal',
    ]);
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

  it('prints the bulk import’s drain beside its intake, with the goal that the drain keeps up', () => {
    const lines = resultsTable(results).split('\n');
    const row = (metric: string) => lines.find((line) => line.startsWith(`${metric} `))?.split(/\s{2,}/);
    expect(row('outbox_drain_per_s')).toEqual([
      'outbox_drain_per_s',
      '100.0',
      '80.0',
      '1.25',
      '≥ 1× burst_accept_per_s',
      'within goal',
    ]);
    expect(row('burst_deals')).toEqual(['burst_deals', '10000', '≥ 10000', 'within goal']);
  });

  it('leaves out what a run of some phases did not measure', () => {
    const table = resultsTable({ burst_deals: 1_000, burst_accept_per_s: 90, outbox_drain_per_s: 30 });
    expect(table).not.toContain('webhooks_per_s');
    expect(table).toMatch(/outbox_drain_per_s\s+30\.0\s+90\.0\s+0\.33\s+≥ 1× burst_accept_per_s\s+MISSES goal/);
    expect(ratiosOf({ cold_init_floor_ms: 100 })).toEqual({});
  });
});
