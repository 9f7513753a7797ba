import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';

/**
 * Feeds DynamoDB Local's stream of the table to the outbox handler, as Lambda's event source mapping does in the
 * cloud: records in order per shard, wrapped as a `DynamoDBStreamEvent`, partial failures (`batchItemFailures`)
 * retried from the first failed record with backoff, for as long as it takes (a mail outage holds the effects back,
 * it never drops them).
 *
 * Resuming after a restart: the sequence number of the last record handled is kept per shard in a checkpoint file in
 * the data folder, written after each batch. A crash before the write means the batch is handed over again, which the
 * outbox tolerates (every effect is marked done per decision); a shard the checkpoint does not know (a new stream, or
 * DynamoDB Local renamed its shards) is read from TRIM_HORIZON, which the same idempotency makes safe. Reading
 * everything from TRIM_HORIZON on every start would also be correct, but replays up to 24 hours of records.
 */
export interface StreamPollerOptions {
  streams: DynamoDBStreamsClient;
  streamArn: string;
  /** The outbox handler (or anything answering like a Lambda stream consumer). */
  handle: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;
  /** Where the checkpoint is kept; null keeps it in memory (`npm start -- --in-memory`). */
  checkpointFile: string | null;
  log: (line: string) => void;
  /** Pause between polls of a shard with no new records. */
  idleMs?: number;
  /** Records per batch (Lambda's batch size). */
  batchSize?: number;
}

export interface StreamPoller {
  stop(): Promise<void>;
}

interface Checkpoint {
  streamArn: string;
  /** Shard id → sequence number of the last record handled. */
  shards: Record<string, string>;
}

const MAX_BACKOFF_MS = 30_000;
const IDLE_POLLS_PER_SCAN = 50;

/** Starts polling; the returned handle stops after the batch in hand. */
export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const checkpoint = readCheckpoint(options);
  let stopping = false;
  const finished = new Set<string>();
  const loop = (async () => {
    while (!stopping) {
      const shards = await describeShards(options).catch((error: unknown) => {
        options.log(`outbox: cannot describe the table's stream (${describe(error)}); retrying`);
        return [] as Shard[];
      });
      const ready = shards.filter(
        (shard) =>
          shard.ShardId &&
          !finished.has(shard.ShardId) &&
          (!shard.ParentShardId ||
            finished.has(shard.ParentShardId) ||
            !shards.some((s) => s.ShardId === shard.ParentShardId)),
      );
      if (ready.length === 0) {
        await sleep(options.idleMs ?? 100);
        continue;
      }
      // One shard at a time until it is drained or idle: a deal's changes live in one shard, its parent first.
      for (const shard of ready) {
        if (stopping) break;
        const closed = await drainShard(shard.ShardId as string, options, checkpoint, () => stopping).catch(
          async (error: unknown) => {
            options.log(`outbox: reading shard ${shard.ShardId} failed (${describe(error)}); retrying`);
            await sleep(MAX_BACKOFF_MS / 10);
            return false;
          },
        );
        if (closed) finished.add(shard.ShardId as string);
      }
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
    },
  };
}

/** Reads a shard until it has nothing new (false) or is closed and fully handled (true). */
async function drainShard(
  shardId: string,
  options: StreamPollerOptions,
  checkpoint: Checkpoint,
  stopping: () => boolean,
): Promise<boolean> {
  let iterator = await shardIterator(shardId, options, checkpoint);
  let backoff = 250;
  let idlePolls = 0;
  while (iterator && !stopping()) {
    let page: Awaited<ReturnType<typeof getRecords>>;
    try {
      page = await getRecords(options, iterator);
    } catch (error) {
      options.log(`outbox: reading the stream failed (${describe(error)}); reading again from the checkpoint`);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      iterator = await shardIterator(shardId, options, checkpoint);
      continue;
    }
    const records = page.Records ?? [];
    if (records.length === 0) {
      if (!page.NextShardIterator) return true;
      // Now and then look for new shards (DynamoDB rolls them over); otherwise keep this shard's iterator.
      if (++idlePolls >= IDLE_POLLS_PER_SCAN) return false;
      await sleep(options.idleMs ?? 100);
      iterator = page.NextShardIterator;
      continue;
    }
    idlePolls = 0;
    const failedAt = await handleBatch(records, options);
    const handled = failedAt === null ? records : records.slice(0, failedAt);
    const last = handled.at(-1)?.dynamodb?.SequenceNumber;
    if (last) {
      checkpoint.shards[shardId] = last;
      writeCheckpoint(options, checkpoint);
    }
    if (failedAt === null) {
      backoff = 250;
      iterator = page.NextShardIterator;
      if (!iterator) return true;
      continue;
    }
    options.log(`outbox: a side effect failed; retrying in ${Math.round(backoff / 1000)} s`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    iterator = await shardIterator(shardId, options, checkpoint);
  }
  return false;
}

/** Hands the records to the handler; answers the index of the first failed record, or null when all succeeded. */
async function handleBatch(records: StreamRecord[], options: StreamPollerOptions): Promise<number | null> {
  const event: DynamoDBStreamEvent = { Records: records.map((record) => toLambdaRecord(record, options.streamArn)) };
  try {
    const response = await options.handle(event);
    const failed = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    const index = records.findIndex((record) => failed.has(record.dynamodb?.SequenceNumber ?? ''));
    return index === -1 ? null : index;
  } catch (error) {
    options.log(`outbox: the handler failed the whole batch (${describe(error)})`);
    return 0;
  }
}

/** The record as Lambda delivers it: the same attribute-value JSON, times in epoch seconds. */
function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const { ApproximateCreationDateTime, ...dynamodb } = record.dynamodb ?? {};
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(repairEmptyMaps(dynamodb) as NonNullable<DynamoDBRecord['dynamodb']>),
      ...(ApproximateCreationDateTime
        ? { ApproximateCreationDateTime: Math.floor(ApproximateCreationDateTime.getTime() / 1000) }
        : {}),
    },
  };
}

/**
 * The streams client hands an empty map attribute (`{"M":{}}` on the wire) over as `{}`, which is no attribute value
 * at all (unmarshall refuses it); Lambda delivers `{"M":{}}`. Restores that shape in the images and keys.
 */
function repairEmptyMaps(value: unknown, isAttribute = false): unknown {
  if (Array.isArray(value)) return value.map((item) => repairEmptyMaps(item, true));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) {
    return value;
  }
  const entries = Object.entries(value);
  if (isAttribute && entries.length === 0) return { M: {} };
  return Object.fromEntries(
    entries.map(([key, inner]) => {
      // Inside an attribute value, M holds attributes and L a list of them; image and key maps hold attributes.
      if (isAttribute) return [key, key === 'M' || key === 'L' ? repairMapOrList(inner) : inner];
      return [key, key === 'NewImage' || key === 'OldImage' || key === 'Keys' ? repairMapOrList(inner) : inner];
    }),
  );
}

function repairMapOrList(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => repairEmptyMaps(item, true));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, repairEmptyMaps(inner, true)]));
}

async function describeShards(options: StreamPollerOptions): Promise<Shard[]> {
  const shards: Shard[] = [];
  let start: string | undefined;
  do {
    const { StreamDescription } = await options.streams.send(
      new DescribeStreamCommand({ StreamArn: options.streamArn, ExclusiveStartShardId: start }),
    );
    shards.push(...(StreamDescription?.Shards ?? []));
    start = StreamDescription?.LastEvaluatedShardId;
  } while (start);
  return shards;
}

async function shardIterator(shardId: string, options: StreamPollerOptions, checkpoint: Checkpoint) {
  const after = checkpoint.shards[shardId];
  const { ShardIterator } = await options.streams.send(
    new GetShardIteratorCommand({
      StreamArn: options.streamArn,
      ShardId: shardId,
      ...(after
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }
        : { ShardIteratorType: 'TRIM_HORIZON' }),
    }),
  );
  return ShardIterator;
}

function getRecords(options: StreamPollerOptions, iterator: string) {
  return options.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: options.batchSize ?? 100 }));
}

function readCheckpoint(options: StreamPollerOptions): Checkpoint {
  const empty: Checkpoint = { streamArn: options.streamArn, shards: {} };
  if (!options.checkpointFile) return empty;
  try {
    const stored = JSON.parse(readFileSync(options.checkpointFile, 'utf8')) as Checkpoint;
    return stored.streamArn === options.streamArn ? stored : empty;
  } catch {
    return empty;
  }
}

/** Written to a temporary file and renamed, so a crash mid-write never leaves half a checkpoint. */
function writeCheckpoint(options: StreamPollerOptions, checkpoint: Checkpoint): void {
  if (!options.checkpointFile) return;
  const temporary = `${options.checkpointFile}.tmp`;
  writeFileSync(temporary, JSON.stringify(checkpoint));
  renameSync(temporary, options.checkpointFile);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
