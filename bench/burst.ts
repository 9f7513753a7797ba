import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import type { MiddlewareObj } from '@middy/core';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { dynamoDb } from '../functions/adapters/aws-clients.ts';
import { InsightsStore } from '../functions/adapters/insights-store.ts';
import type { LocalStack } from '../infra/local/stack.ts';
import { TABLE_NAME } from '../infra/local/stack.ts';
import { type CpuSeconds, cpuBetween, cpuSnapshot } from './process-cpu.ts';
import type { UsageMeter } from './usage-meter.ts';
import { LOAD, type LoadRound, lanes, startWebhookSenders } from './webhook-load.ts';

/**
 * A CRM bulk import: {@link BURST.deals} new deals through the generic webhook from 20 senders while the outbox is
 * held back (intake alone), then the outbox alone working off that backlog until every new deal's effects are done:
 * its creation record handled without failure (the insights read model projected, its execution started, its owner
 * emailed), checked afterwards against the emails and executions counted and the board's totals.
 */

/** `BENCH_BURST_DEALS` shrinks the import to try the bench on a slower path; the published figure needs 10,000. */
export const BURST = { deals: Number(process.env.BENCH_BURST_DEALS ?? 10_000), senders: LOAD.senders } as const;

export interface Burst {
  deals: number;
  acceptPerSecond: number;
  drainPerSecond: number;
  intake: LoadRound;
  drainSeconds: number;
  /** What the drain was seen to do, to check that "done" meant done. */
  drained: { emails: number; startExecutions: number; identifyTotalAdded: number; failedRecords: number };
  /** DynamoDB calls during the drain, by operation, and per deal imported (the stream reads not included). */
  drainDynamoDbCalls: Record<string, number>;
  drainDynamoDbCallsPerDeal: number;
  /** Per deal, by operation and the kind of item the call names. */
  drainDynamoDbCallsPerDealByItem: Record<string, number>;
  /** CPU seconds by process (this one, DynamoDB Local's JVM, the local SES) during the intake and the drain. */
  cpuSeconds: { intake: CpuSeconds; drain: CpuSeconds };
}

/** A middy handler, which takes more middleware after it was built. */
interface Observable {
  use(middleware: MiddlewareObj<DynamoDBStreamEvent, DynamoDBBatchResponse>): unknown;
}

/**
 * Watches the outbox handler's batches for the creation records (INSERT of a deal item) of deals whose id starts with
 * `prefix`: `done` resolves once `count` of them were handled without being reported as failed.
 */
function watchCreations(outbox: Observable, prefix: string, count: number) {
  const created = new Set<string>();
  let failedRecords = 0;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  outbox.use({
    after: (request) => {
      const failed = new Set((request.response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      failedRecords += failed.size;
      for (const record of request.event.Records) {
        const image = record.dynamodb?.NewImage;
        const dealId = image?.deal?.M?.dealId?.S;
        if (record.eventName !== 'INSERT' || image?.sk?.S !== 'DEAL' || !dealId?.startsWith(prefix)) continue;
        if (!failed.has(record.dynamodb?.SequenceNumber ?? '')) created.add(dealId);
      }
      if (created.size >= count) resolve();
    },
  });
  return { done, failedRecords: () => failedRecords };
}

const DRAIN_LIMIT_MS = 60 * 60_000;

/**
 * With `BENCH_CPU_PROFILE=<file>`, a V8 CPU profile of this process during the drain (open it in Chrome's DevTools or
 * speedscope); otherwise nothing. Answers the function that stops it and writes the file.
 */
async function profileDrain(): Promise<() => Promise<void>> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const timeout = (ms: number, what: string) =>
  new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${what} in ${ms / 60_000} minutes`)), ms).unref(),
  );

const identifyTotal = async () =>
  (await new InsightsStore(dynamoDb(), TABLE_NAME).totals('default'))['count#identify'] ?? 0;

/** Runs the import against `stack`, whose outbox handler (the same module instance the stack runs) is `outbox`. */
export async function runBurst(
  stack: LocalStack,
  secret: string,
  outbox: Observable,
  meter: UsageMeter,
  id: string,
): Promise<Burst> {
  const prefix = `BURST-${id}`;
  const watch = watchCreations(outbox, prefix, BURST.deals);
  const totalBefore = await identifyTotal();
  const senders = startWebhookSenders(stack.url, secret);
  stack.outbox.hold();
  const intakeCpu = cpuSnapshot();
  let intake: LoadRound;
  try {
    intake = await senders.send(lanes(prefix, BURST.deals, 1, BURST.senders));
  } finally {
    await senders.close();
  }
  const stopProfile = await profileDrain();
  const drainCpu = cpuSnapshot();
  meter.start();
  const drainStart = performance.now();
  stack.outbox.release();
  await Promise.race([watch.done, timeout(DRAIN_LIMIT_MS, `the outbox did not drain ${BURST.deals} deals`)]);
  const drainSeconds = (performance.now() - drainStart) / 1000;
  const usage = meter.stop();
  await stopProfile();
  const cpuSeconds = { intake: cpuBetween(intakeCpu, drainCpu), drain: cpuBetween(drainCpu, cpuSnapshot()) };
  const calls = Object.values(usage.dynamoDb.calls).reduce((sum, n) => sum + n, 0);
  return {
    deals: BURST.deals,
    acceptPerSecond: intake.perSecond,
    drainPerSecond: BURST.deals / drainSeconds,
    intake,
    drainSeconds,
    drained: {
      emails: usage.emails,
      startExecutions: usage.stepFunctionsCalls.StartExecution ?? 0,
      identifyTotalAdded: (await identifyTotal()) - totalBefore,
      failedRecords: watch.failedRecords(),
    },
    drainDynamoDbCalls: usage.dynamoDb.calls,
    drainDynamoDbCallsPerDeal: Math.round((calls / BURST.deals) * 100) / 100,
    drainDynamoDbCallsPerDealByItem: Object.fromEntries(
      Object.entries(usage.dynamoDb.callsByItem).map(([kind, n]) => [
        kind,
        Math.round((n / BURST.deals) * 1000) / 1000,
      ]),
    ),
    cpuSeconds,
  };
}
