import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import PQueue from 'p-queue';
import { toStoredDeal } from '../adapters/deals/deals.ts';
import { isDealKey } from '../adapters/deals/keys.ts';
import type { DealChange } from './deal-change.ts';
import { giveUpEffect, isRetryable } from './effect-failures.ts';
import type { EffectServices } from './effect-services.ts';
import { applySideEffects } from './side-effects.ts';

/** How many deals' changes one batch works on at once, unless the environment says otherwise. */
export const DEFAULT_OUTBOX_CONCURRENCY = 64;

/** A later change of a deal whose earlier change in the same batch failed: it waits, so effects keep their order. */
export class EarlierChangeFailedError extends Error {
  constructor(dealKey: string) {
    super(`an earlier change of ${dealKey} in this batch failed; this one is retried after it`);
    this.name = 'EarlierChangeFailedError';
  }
}

/** The deal a stream record is about (`<pipeline>/<dealId>`, from its keys alone), or null for any other item. */
export function dealOfRecord(record: DynamoDBRecord): { pipeline: string; dealId: string } | null {
  const keys = record.dynamodb?.Keys;
  if (!keys) return null;
  const key = unmarshall(keys as Record<string, AttributeValue>);
  if (!isDealKey(key)) return null;
  const [pipeline = '', ...rest] = String(key.pk).slice('DEAL#'.length).split('#');
  return { pipeline, dealId: rest.join('#') };
}

/** The deal change a stream record carries, or null for any other item (history, events, approvals, marks). */
export function dealChangeOf(record: DynamoDBRecord): DealChange | null {
  const { NewImage, OldImage } = record.dynamodb ?? {};
  if (!NewImage || !dealOfRecord(record)) return null;
  const image = (value: typeof NewImage) => toStoredDeal(unmarshall(value as Record<string, AttributeValue>));
  return { before: OldImage ? image(OldImage) : null, after: image(NewImage) };
}

/**
 * The handler of the stream records of one batch (build one per batch), for a processor that calls it for every
 * record at once, in the batch's order. Records of different deals run concurrently, at most `concurrency` at a time;
 * a deal's records run one after the other, in order. Once a deal's change fails, its later changes in the batch fail
 * too without running, so the retry (which starts at the first failed record) replays them in order; other deals'
 * records after that point are handed over again and find their effects marked done.
 *
 * A record that cannot even be read as a deal change fails the same way every time: it is given up (dead-letter item,
 * metric) rather than retried.
 */
export function outboxRecordHandler(
  services: EffectServices,
  concurrency = DEFAULT_OUTBOX_CONCURRENCY,
): (record: DynamoDBRecord) => Promise<void> {
  const failed = new Set<string>();
  const latest = new Map<string, Promise<void>>();
  const slots = new PQueue({ concurrency });
  return (record) => {
    const deal = dealOfRecord(record);
    if (!deal) return Promise.resolve();
    const key = `${deal.pipeline}/${deal.dealId}`;
    const previous = latest.get(key) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        if (failed.has(key)) throw new EarlierChangeFailedError(key);
        return slots.add(() => handleRecord(record, deal, services));
      })
      .catch((error: unknown) => {
        failed.add(key);
        throw error;
      });
    latest.set(key, next);
    return next;
  };
}

async function handleRecord(
  record: DynamoDBRecord,
  deal: { pipeline: string; dealId: string },
  services: EffectServices,
): Promise<void> {
  const sequenceNumber = record.dynamodb?.SequenceNumber ?? null;
  let change: DealChange | null;
  try {
    change = dealChangeOf(record);
  } catch (error) {
    await giveUpEffect(services, { ...deal, version: null, effect: 'record', sequenceNumber }, error);
    return;
  }
  if (!change) return;
  try {
    await applySideEffects(change, services, sequenceNumber);
  } catch (error) {
    services.logger.error(isRetryable(error) ? 'a side effect failed; the change is retried' : 'a side effect failed', {
      deal: `${deal.pipeline}/${deal.dealId}`,
      version: change.after.version,
      error,
    });
    throw error;
  }
}
