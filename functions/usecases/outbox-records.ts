import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { toStoredDeal } from '../adapters/deals/deals.ts';
import { isDealKey } from '../adapters/deals/keys.ts';
import type { DealChange } from './deal-change.ts';
import type { EffectServices } from './effect-services.ts';
import { applySideEffects } from './side-effects.ts';

/** A later change of a deal whose earlier change in the same batch failed: it waits, so effects keep their order. */
export class EarlierChangeFailedError extends Error {
  constructor(dealKey: string) {
    super(`an earlier change of ${dealKey} in this batch failed; this one is retried after it`);
    this.name = 'EarlierChangeFailedError';
  }
}

/** The deal change a stream record carries, or null for any other item (history, events, approvals, marks). */
export function dealChangeOf(record: DynamoDBRecord): DealChange | null {
  const { Keys, NewImage, OldImage } = record.dynamodb ?? {};
  if (!Keys || !NewImage || !isDealKey(unmarshall(Keys as Record<string, AttributeValue>))) return null;
  const image = (value: typeof NewImage) => toStoredDeal(unmarshall(value as Record<string, AttributeValue>));
  return { before: OldImage ? image(OldImage) : null, after: image(NewImage) };
}

/**
 * The handler of the stream records of one batch (build one per batch). Records are handled in order; once a deal's
 * change fails, its later changes in the batch fail too (without running), so a retry replays them in order.
 */
export function outboxRecordHandler(services: EffectServices): (record: DynamoDBRecord) => Promise<void> {
  const failed = new Set<string>();
  return async (record) => {
    const change = dealChangeOf(record);
    if (!change) return;
    const key = `${change.after.deal.pipeline}/${change.after.deal.dealId}`;
    if (failed.has(key)) throw new EarlierChangeFailedError(key);
    try {
      await applySideEffects(change, services);
    } catch (error) {
      failed.add(key);
      services.logger.error('a side effect failed; the change is retried', {
        deal: key,
        version: change.after.version,
        error,
      });
      throw error;
    }
  };
}
