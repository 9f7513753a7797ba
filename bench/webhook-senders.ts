import { parentPort, workerData } from 'node:worker_threads';
import { ApiClient, type GenericEvent } from '../infra/local/api-client.ts';
import { type Delivery, timedDelivery } from './generic-webhook.ts';

/**
 * The load generator, in a worker thread so that sending and timing never wait on the event loop that runs the
 * local stack's handlers: each lane is one sender posting its events in order, all lanes at once.
 */

export interface SendersInput {
  api: string;
  secret: string;
  /** Sent first and not counted: warms connections, JIT and the handlers' caches. */
  warmup: GenericEvent[][];
  lanes: GenericEvent[][];
}

export interface SendersOutput {
  deliveries: Delivery[];
  wallMs: number;
}

async function send({ api, secret }: SendersInput, lanes: GenericEvent[][]): Promise<SendersOutput> {
  const client = new ApiClient({ api, secrets: { generic: secret } });
  const deliveries: Delivery[] = [];
  const start = performance.now();
  await Promise.all(
    lanes.map(async (events) => {
      for (const event of events) deliveries.push(await timedDelivery(client, event));
    }),
  );
  return { deliveries, wallMs: performance.now() - start };
}

const input = workerData as SendersInput;
await send(input, input.warmup);
parentPort?.postMessage(await send(input, input.lanes));
