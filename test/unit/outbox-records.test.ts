import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { DealChange } from '../../functions/usecases/deal-change.ts';
import { isRetryable } from '../../functions/usecases/effect-failures.ts';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { outboxRecordHandler } from '../../functions/usecases/outbox-records.ts';

const applied: string[] = [];
let behaviour: (dealId: string, version: number) => Promise<void> = async () => undefined;

vi.mock('../../functions/usecases/side-effects.ts', () => ({
  applySideEffects: async (change: DealChange) => {
    const { dealId } = change.after.deal;
    await behaviour(dealId, change.after.version);
    applied.push(`${dealId}@${change.after.version}`);
  },
}));
vi.mock('../../functions/adapters/deals/deals.ts', () => ({
  toStoredDeal: (item: { deal: { dealId: string; pipeline: string }; version: number }) => item,
}));

const services = {
  logger: { error: () => undefined },
  deals: { recordEffectFailure: vi.fn(async () => true) },
  telemetry: { effectGivenUp: vi.fn() },
  clock: () => new Date('2026-03-01T00:00:00Z'),
} as unknown as EffectServices;

function record(dealId: string, version: number): DynamoDBRecord {
  const image = { pk: `DEAL#default#${dealId}`, sk: 'DEAL', deal: { dealId, pipeline: 'default' }, version };
  return {
    dynamodb: {
      SequenceNumber: `${dealId}@${version}`,
      Keys: marshall({ pk: image.pk, sk: 'DEAL' }) as never,
      NewImage: marshall(image) as never,
    },
  };
}

describe('the outbox record handler', () => {
  beforeEach(() => {
    applied.length = 0;
    behaviour = async () => undefined;
  });

  it('runs different deals concurrently and each deal in order', async () => {
    const started: string[] = [];
    const gates = new Map<string, () => void>();
    behaviour = (dealId, version) =>
      new Promise((resolve) => {
        started.push(`${dealId}@${version}`);
        gates.set(`${dealId}@${version}`, resolve);
      });
    const handle = outboxRecordHandler(services, 4);
    const runs = [record('A', 1), record('B', 1), record('A', 2), record('C', 1)].map(handle);
    await vi.waitFor(() => expect(started).toEqual(['A@1', 'B@1', 'C@1']));
    gates.get('B@1')?.();
    gates.get('C@1')?.();
    gates.get('A@1')?.();
    await vi.waitFor(() => expect(started).toContain('A@2'));
    gates.get('A@2')?.();
    await Promise.all(runs);
    expect(applied.filter((run) => run.startsWith('A'))).toEqual(['A@1', 'A@2']);
  });

  it('fails a deal’s later records without running them once one failed, and runs the other deals', async () => {
    behaviour = async (dealId, version) => {
      if (dealId === 'A' && version === 1) throw Object.assign(new Error('SES is down'), { code: 'ECONNREFUSED' });
    };
    const handle = outboxRecordHandler(services, 2);
    const results = await Promise.allSettled(
      [record('A', 1), record('B', 1), record('A', 2), record('B', 2)].map(handle),
    );
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ name: 'EarlierChangeFailedError' });
    expect(applied).toEqual(['B@1', 'B@2']);
  });

  it('never holds more deals at once than its bound', async () => {
    let running = 0;
    let most = 0;
    behaviour = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    };
    const handle = outboxRecordHandler(services, 3);
    await Promise.all(Array.from({ length: 20 }, (_, n) => record(`D${n}`, 1)).map(handle));
    expect(most).toBe(3);
  });
});

describe('isRetryable', () => {
  const sdkError = (name: string, status: number, fault: 'client' | 'server') =>
    Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
  it.each([
    ['a refused connection (the mail service down)', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })],
    ['throttling', sdkError('ThrottlingException', 400, 'client')],
    ['a service error', sdkError('InternalServerError', 500, 'server')],
    ['a lost race', Object.assign(new Error('race'), { name: 'ConcurrentUpdateError' })],
    [
      'a transaction conflict',
      new TransactionCanceledException({
        message: 'conflict',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
      }),
    ],
  ])('retries %s', (_, error) => {
    expect(isRetryable(error)).toBe(true);
  });

  it.each([
    [
      'a number that cannot be marshalled',
      new Error('Number 10000000000000000 is greater than Number.MAX_SAFE_INTEGER.'),
    ],
    ['an item over 400 KB', sdkError('ValidationException', 400, 'client')],
    [
      'a message SES rejects',
      new SESv2ServiceException({ name: 'MessageRejected', $fault: 'client', $metadata: { httpStatusCode: 400 } }),
    ],
    ['a programming error', new TypeError('cannot read properties of undefined')],
    [
      'a transaction refused for its size',
      new TransactionCanceledException({
        message: 'size',
        $metadata: {},
        CancellationReasons: [{ Code: 'ValidationError' }],
      }),
    ],
  ])('gives up %s', (_, error) => {
    expect(isRetryable(error)).toBe(false);
  });
});
