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
import PQueue from 'p-queue';

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
 *
 * A checkpoint that cannot be right (not a sequence number, refused by the stream, or past the shard's last record,
 * which would skip every new record silently) is dropped with a warning line and its shard replayed from
 * TRIM_HORIZON. Shards that are ready are read concurrently (a deal's records live in one shard, its parent first).
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
  /** How long the same record may keep failing, or the poller go without reading, before it counts as stalled. */
  stallAfterMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** Whether the outbox keeps up: `stalled` says why not (the same record failing, or no read for a while). */
export type OutboxProgress = { state: 'ok' } | { state: 'stalled'; reason: string };

export interface StreamPoller {
  stop(): Promise<void>;
  /** Whether the outbox makes progress, for `/health`. */
  progress(): OutboxProgress;
}

interface Checkpoint {
  streamArn: string;
  /** Shard id → sequence number of the last record handled. */
  shards: Record<string, string>;
}

const MAX_BACKOFF_MS = 30_000;
const IDLE_POLLS_PER_SCAN = 50;
/** How long a failing record or a silent poller is tolerated before `/health` says the outbox is stalled. */
export const DEFAULT_STALL_AFTER_MS = 60_000;
/** How many shards are read at once. */
const SHARD_CONCURRENCY = 4;
/** A DynamoDB Streams sequence number: 21 to 40 digits. */
const SEQUENCE_NUMBER = /^\d{21,40}$/;

/** What the poller knows about its own progress. */
interface Watch {
  /** When a read last happened (or was attempted). */
  lastReadAt: number;
  /** Per shard: since when its next record (by sequence number) keeps failing. */
  failing: Map<string, { since: number; record: string }>;
  /** Shards whose checkpoint was proven to lie within the shard (or that have none). */
  verified: Set<string>;
}

/** Starts polling; the returned handle stops after the batch in hand. */
export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const checkpoint = readCheckpoint(options);
  const now = options.now ?? Date.now;
  const watch: Watch = { lastReadAt: now(), failing: new Map(), verified: new Set() };
  const stallAfter = options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
  let stopping = false;
  const finished = new Set<string>();
  const shardSlots = new PQueue({ concurrency: SHARD_CONCURRENCY });
  const loop = (async () => {
    while (!stopping) {
      watch.lastReadAt = now();
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
      // Each ready shard until it is drained or idle: a deal's changes live in one shard, its parent first.
      await Promise.all(
        ready.map((shard) =>
          shardSlots.add(async () => {
            const shardId = shard.ShardId as string;
            if (stopping) return;
            const reader: ShardReader = { shardId, options, checkpoint, watch, now, stopping: () => stopping };
            const closed = await drainShard(reader).catch(async (error: unknown) => {
              options.log(`outbox: reading shard ${shardId} failed (${describe(error)}); retrying`);
              await sleep(MAX_BACKOFF_MS / 10);
              return false;
            });
            if (closed) finished.add(shardId);
          }),
        ),
      );
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
    },
    progress: () => progressOf(watch, now(), stallAfter),
  };
}

/** Stalled when a record has kept failing, or no read happened, for longer than `stallAfter`. */
function progressOf(watch: Watch, at: number, stallAfter: number): OutboxProgress {
  for (const [shardId, failing] of watch.failing) {
    const seconds = Math.round((at - failing.since) / 1000);
    if (at - failing.since > stallAfter) {
      return {
        state: 'stalled',
        reason: `a record of ${shardId} has kept failing for ${seconds} s (sequence number ${failing.record})`,
      };
    }
  }
  if (at - watch.lastReadAt > stallAfter) {
    return { state: 'stalled', reason: `no stream read for ${Math.round((at - watch.lastReadAt) / 1000)} s` };
  }
  return { state: 'ok' };
}

/** One shard's reading: where it is, what it reports, and whether to stop. */
interface ShardReader {
  shardId: string;
  options: StreamPollerOptions;
  checkpoint: Checkpoint;
  watch: Watch;
  now: () => number;
  stopping: () => boolean;
}

/** Reads a shard until it has nothing new (false) or is closed and fully handled (true). */
async function drainShard(reader: ShardReader): Promise<boolean> {
  const { shardId, options, checkpoint, watch, now, stopping } = reader;
  let iterator = await checkedIterator(reader);
  let backoff = 250;
  let idlePolls = 0;
  while (iterator && !stopping()) {
    let page: Awaited<ReturnType<typeof getRecords>>;
    watch.lastReadAt = now();
    try {
      page = await getRecords(options, iterator);
    } catch (error) {
      options.log(`outbox: reading the stream failed (${describe(error)}); reading again from the checkpoint`);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      iterator = await checkedIterator(reader);
      continue;
    }
    const records = page.Records ?? [];
    if (records.length > 0) watch.verified.add(shardId);
    if (records.length === 0 && !watch.verified.has(shardId)) {
      watch.verified.add(shardId);
      if (!(await checkpointWithinShard(reader))) {
        replayFromTrimHorizon(reader, 'past the last record of the shard');
        iterator = await shardIterator(shardId, options, checkpoint);
        continue;
      }
    }
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
      watch.failing.delete(shardId);
      backoff = 250;
      iterator = page.NextShardIterator;
      if (!iterator) return true;
      continue;
    }
    const failedRecord = records[failedAt]?.dynamodb?.SequenceNumber ?? '';
    const earlier = watch.failing.get(shardId);
    // The clock restarts when the batch got further, or another record fails: the outbox made progress.
    if (failedAt > 0 || earlier?.record !== failedRecord) {
      watch.failing.set(shardId, { since: now(), record: failedRecord });
    }
    options.log(`outbox: a side effect failed; retrying in ${Math.round(backoff / 1000)} s`);
    await sleep(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    iterator = await checkedIterator(reader);
  }
  return false;
}

/**
 * The shard's iterator after its checkpoint; a checkpoint the stream refuses (a malformed or unknown sequence number)
 * is dropped with a warning and the shard replayed from TRIM_HORIZON. A network error is thrown (read again later).
 */
async function checkedIterator(reader: ShardReader): Promise<string | undefined> {
  const { shardId, options, checkpoint } = reader;
  try {
    return await shardIterator(shardId, options, checkpoint);
  } catch (error) {
    const refused = checkpoint.shards[shardId] !== undefined && hasServiceAnswer(error);
    if (!refused) throw error;
    replayFromTrimHorizon(reader, `refused by the stream: ${describe(error)}`);
    return shardIterator(shardId, options, checkpoint);
  }
}

/**
 * Whether the checkpoint names a record at or before the shard's last one: read from TRIM_HORIZON until a record at
 * or after the checkpoint turns up (true) or the shard has no more (false). Runs once per shard and start, and only
 * when nothing follows the checkpoint.
 */
async function checkpointWithinShard(reader: ShardReader): Promise<boolean> {
  const { shardId, options, checkpoint } = reader;
  const after = checkpoint.shards[shardId];
  if (after === undefined) return true;
  const mark = BigInt(after);
  let iterator: string | undefined = await shardIterator(shardId, options, { ...checkpoint, shards: {} });
  while (iterator) {
    const page = await options.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    const records = page.Records ?? [];
    if (records.some((record) => BigInt(record.dynamodb?.SequenceNumber ?? '0') >= mark)) return true;
    if (records.length === 0) return false;
    iterator = page.NextShardIterator;
  }
  return false;
}

/** Drops a shard's checkpoint with a warning line: the shard is read again from TRIM_HORIZON (effects are marked). */
function replayFromTrimHorizon(reader: ShardReader, why: string): void {
  const { shardId, options, checkpoint } = reader;
  options.log(
    `outbox: warning: the checkpoint of ${shardId} (${checkpoint.shards[shardId]}) is ${why}; ` +
      'replaying the shard from TRIM_HORIZON (effects already done are skipped)',
  );
  delete checkpoint.shards[shardId];
  writeCheckpoint(options, checkpoint);
}

/** True for an error the stream service answered (it refused the request), false for a network failure. */
function hasServiceAnswer(error: unknown): boolean {
  return typeof (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 'number';
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

/**
 * The checkpoint file, keeping only well-formed entries: an entry that is not a sequence number, or a file that is not
 * a checkpoint, is reported with a warning line and read from TRIM_HORIZON.
 */
function readCheckpoint(options: StreamPollerOptions): Checkpoint {
  const empty: Checkpoint = { streamArn: options.streamArn, shards: {} };
  if (!options.checkpointFile) return empty;
  let text: string;
  try {
    text = readFileSync(options.checkpointFile, 'utf8');
  } catch {
    return empty;
  }
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    options.log(`outbox: warning: ${options.checkpointFile} is not JSON; replaying the stream from TRIM_HORIZON`);
    return empty;
  }
  const { streamArn, shards } = (stored ?? {}) as Partial<Checkpoint>;
  if (streamArn !== options.streamArn) return empty;
  const kept: Record<string, string> = {};
  for (const [shardId, sequence] of Object.entries(shards ?? {})) {
    if (typeof sequence === 'string' && SEQUENCE_NUMBER.test(sequence)) kept[shardId] = sequence;
    else {
      options.log(
        `outbox: warning: the checkpoint of ${shardId} (${JSON.stringify(sequence)}) is not a sequence number; ` +
          'replaying the shard from TRIM_HORIZON (effects already done are skipped)',
      );
    }
  }
  return { streamArn: options.streamArn, shards: kept };
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
