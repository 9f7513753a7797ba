import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { GenericEvent } from '../infra/local/api-client.ts';
import { dealStory } from './generic-webhook.ts';
import { percentile } from './stats.ts';
import type { SendersInput, SendersOutput } from './webhook-senders.ts';

/**
 * The webhook load: 2,000 signed generic events over 200 deals from 20 concurrent senders, sent in `rounds` rounds of
 * 40 deals each so that the storage floor can run between them on the same table state.
 */
export const LOAD = {
  senders: 20,
  deals: 200,
  eventsPerDeal: 10,
  warmupDeals: 100,
  warmupEventsPerDeal: 10,
  rounds: 5,
} as const;

/** What one round (or the warm-up) of webhooks measured. */
export interface LoadRound {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  perSecond: number;
  events: number;
  wallSeconds: number;
  /** How many deliveries got each outcome (`HTTP <status>` when the answer was not a 202). */
  outcomes: Record<string, number>;
}

/**
 * The events of `deals` deals (each its first `eventsPerDeal` story events: created, then field updates and forward
 * moves up to `deliver`), dealt to `senders` lanes. A deal stays on one lane so its events keep their order; a lane
 * goes round its deals so that concurrent requests mostly hit different deals, as a CRM's would.
 */
export function lanes(prefix: string, deals: number, eventsPerDeal: number, senders: number): GenericEvent[][] {
  const stories = Array.from({ length: deals }, (_, d) => dealStory(`${prefix}-${d}`, `${prefix}-${d}`));
  return Array.from({ length: senders }, (_, lane) => {
    const own = stories.filter((_, d) => d % senders === lane);
    return Array.from({ length: eventsPerDeal }, (_, round) => own.flatMap((story) => story[round] ?? [])).flat();
  });
}

/**
 * Senders in a worker thread, kept up across rounds, against the stack at `api`: each `send` posts one round of lanes
 * and summarises its client-side latencies.
 */
export function startWebhookSenders(api: string, secret: string) {
  const input: SendersInput = { api, secret };
  const worker = new Worker(new URL('./webhook-senders.ts', import.meta.url), { workerData: input });
  return {
    send: async (roundLanes: GenericEvent[][]): Promise<LoadRound> => {
      const answered = once(worker, 'message');
      worker.postMessage(roundLanes);
      const [{ deliveries, wallMs }] = (await answered) as [SendersOutput];
      return summarise(deliveries, wallMs);
    },
    close: () => worker.terminate(),
  };
}

function summarise(deliveries: SendersOutput['deliveries'], wallMs: number): LoadRound {
  const latencies = deliveries.map((delivery) => delivery.ms).sort((a, b) => a - b);
  const outcomes: Record<string, number> = {};
  for (const { outcome } of deliveries) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  return {
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    meanMs: latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length,
    maxMs: latencies.at(-1) ?? 0,
    perSecond: deliveries.length / (wallMs / 1000),
    events: deliveries.length,
    wallSeconds: wallMs / 1000,
    outcomes,
  };
}
