import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import type { VersionedPipeline } from '../../core/pipeline-config.ts';
import type { StoredDeal } from '../../core/stored-deal.ts';
import { toStoredDeal } from './deals.ts';
import { dealKey, pipelineKey } from './keys.ts';
import { toVersionedPipeline } from './pipelines.ts';
import type { TableRef } from './table-ref.ts';

/** A deal and one version of its pipeline's config, read together. */
export interface DealWithConfig {
  stored: StoredDeal | null;
  config: VersionedPipeline | null;
}

/**
 * Reads a deal and a version of its pipeline's config in one strongly consistent `BatchGetItem`: one round trip
 * where two `GetItem`s in turn take two, which a cold start pays in full. Keys the batch leaves unprocessed (DynamoDB
 * may return some under throttling) are asked again, after a growing pause, until none is left.
 */
export async function getDealWithConfig(
  table: TableRef,
  pipeline: string,
  dealId: string,
  version: string,
): Promise<DealWithConfig> {
  const wanted = dealKey(pipeline, dealId);
  let keys: Record<string, unknown>[] = [wanted, pipelineKey(pipeline, version)];
  const found: Record<string, unknown>[] = [];
  for (let attempt = 0; keys.length > 0; attempt++) {
    if (attempt > 0) await sleep(Math.min(50 * 2 ** attempt, 1000));
    const { Responses, UnprocessedKeys } = await table.db.send(
      new BatchGetCommand({ RequestItems: { [table.tableName]: { Keys: keys, ConsistentRead: true } } }),
    );
    found.push(...(Responses?.[table.tableName] ?? []));
    keys = UnprocessedKeys?.[table.tableName]?.Keys ?? [];
  }
  const deal = found.find((item) => item.pk === wanted.pk && item.sk === wanted.sk);
  const config = found.find((item) => item !== deal);
  return { stored: deal ? toStoredDeal(deal) : null, config: config ? toVersionedPipeline(config) : null };
}
