import { parentPort, workerData } from 'node:worker_threads';
import { ApiClient, type GenericEvent } from '../infra/local/api-client.ts';
import { type Delivery, timedDelivery } from './generic-webhook.ts';

/**
 * The load generator, in a worker thread so that sending and timing never wait on the event loop that runs the
 * local stack's handlers: each lane is one sender posting its events in order, all lanes at once. The worker stays
 * up between rounds (its connections and JIT stay warm); each message it receives is one round of lanes, and it
 * answers each with that round's deliveries.
 */

export interface SendersInput {
  api: string;
  secret: string;
}

export interface SendersOutput {
  deliveries: Delivery[];
  wallMs: number;
}

const { api, secret } = workerData as SendersInput;
const client = new ApiClient({ api, secrets: { generic: secret } });

async function send(lanes: GenericEvent[][]): Promise<SendersOutput> {
  const deliveries: Delivery[] = [];
  const start = performance.now();
  await Promise.all(
    lanes.map(async (events) => {
      for (const event of events) deliveries.push(await timedDelivery(client, event));
    }),
  );
  return { deliveries, wallMs: performance.now() - start };
}

parentPort?.on('message', async (lanes: GenericEvent[][]) => {
  parentPort?.postMessage(await send(lanes));
});
