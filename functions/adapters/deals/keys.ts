import { type Deal, isEnded, type Owner, type Source } from '../../core/deal.ts';
import { BadRequestError } from '../../core/errors.ts';

// The item kinds, their keys, attributes, TTLs and the stage index are described in docs/data-model.md.

/** The attribute names of the table's keys, its indexes (stage, owner) and its TTL. */
export const TABLE_KEYS = {
  partition: 'pk',
  sort: 'sk',
  stageIndex: 'byStage',
  ownerIndex: 'byOwner',
  ttl: 'ttl',
} as const;

/** How long items that only guard against repeats are kept, in days (after their time, or an approval's expiry). */
export const KEPT_DAYS = {
  eventRecord: 90,
  approval: 90,
  outboxMark: 30,
  dailyNotice: 2,
  deadLetter: 30,
  digestRun: 2,
  mailSent: 30,
  writeBack: 30,
} as const;

/** The TTL attribute's value (epoch seconds) for an item kept `days` after the ISO time `from`. */
export function ttlAfter(from: string, days: number): number {
  return Math.floor(Date.parse(from) / 1000) + days * 86_400;
}

/** A number as a sort key part that sorts as the number does. */
const sortable = (n: number, digits: number) => String(n).padStart(digits, '0');

export const dealKey = (pipeline: string, dealId: string) => ({ pk: `DEAL#${pipeline}#${dealId}`, sk: 'DEAL' });
export const HISTORY_PREFIX = 'HISTORY#';
/** The sort key prefix of one version's history entries. */
export const historyVersionPrefix = (version: number) => `${HISTORY_PREFIX}${sortable(version, 10)}`;
export const historyKey = (pipeline: string, dealId: string, version: number, n: number) => ({
  pk: dealKey(pipeline, dealId).pk,
  sk: `${historyVersionPrefix(version)}#${sortable(n, 3)}`,
});
/** History a deal took over from another (a CRM merge): before every entry of its own versions. */
export const copiedHistoryKey = (pipeline: string, dealId: string, n: number) => ({
  pk: dealKey(pipeline, dealId).pk,
  sk: `${HISTORY_PREFIX}${sortable(0, 10)}#${sortable(n, 6)}`,
});
export const eventKey = (source: Source, eventId: string) => ({ pk: `EVENT#${source}#${eventId}`, sk: 'EVENT' });
export const approvalKey = (approvalId: string) => ({ pk: `APPROVAL#${approvalId}`, sk: 'APPROVAL' });
export const outboxKey = (pipeline: string, dealId: string, version: number) => ({
  pk: `OUTBOX#${pipeline}#${dealId}`,
  sk: sortable(version, 10),
});
/** The partition of the outbox's dead-letter items: side effects given up, for an operator. */
export const DEAD_LETTER_PARTITION = 'OUTBOX#FAILED';
export const deadLetterKey = (pipeline: string, dealId: string, version: number | null, effect: string) => ({
  pk: DEAD_LETTER_PARTITION,
  sk: `${pipeline}#${dealId}#${version === null ? '-' : sortable(version, 10)}#${effect}`,
});
/** A given-up effect's entry in the deal's history: it sorts after the entries of the decision it belongs to. */
export const failureHistoryKey = (pipeline: string, dealId: string, version: number, effect: string) => ({
  pk: dealKey(pipeline, dealId).pk,
  sk: `${HISTORY_PREFIX}${sortable(version, 10)}#failed#${effect}`,
});
/** One run of the digest (its scheduled time) for one pipeline: the addresses it has emailed. */
/** The mail log's record that the mail service accepted the email of one identity (a sending event). */
export const mailSentKey = (identity: string) => ({ pk: `MAILSENT#${identity}`, sk: 'SEND' });
export const digestRunKey = (pipeline: string, run: string) => ({ pk: `DIGEST#${pipeline}`, sk: run });
export const noticeKey = (pipeline: string, dealId: string, day: string, notice: string) => ({
  pk: `NOTICE#${pipeline}#${dealId}`,
  sk: `${day}#${notice}`,
});
export const WRITE_BACK_PARTITION_PREFIX = 'WRITEBACK#';
export const writeBackPartition = (pipeline: string, dealId: string) =>
  `${WRITE_BACK_PARTITION_PREFIX}${pipeline}#${dealId}`;
export const WRITE_BACK_PREFIX = 'ITEM#';
export const writeBackKey = (pipeline: string, dealId: string, version: number) => ({
  pk: writeBackPartition(pipeline, dealId),
  sk: `${WRITE_BACK_PREFIX}${sortable(version, 10)}`,
});
export const writeBackLeaseKey = (pipeline: string, dealId: string) => ({
  pk: writeBackPartition(pipeline, dealId),
  sk: 'LEASE',
});
/**
 * The `byStage` index partition that lists the write-backs waiting to run, by the time they are due. One partition:
 * write-backs are bounded by the CRMs' own rate limits (a few per second), far below a partition's write limit.
 */
export const WRITE_BACK_DUE_PARTITION = 'WRITEBACK_DUE';
export const writeBackDueKeys = (dueAt: string, pipeline: string, dealId: string, version: number) => ({
  gsi1pk: WRITE_BACK_DUE_PARTITION,
  gsi1sk: `${dueAt}#${pipeline}#${dealId}#${sortable(version, 10)}`,
});
export const pipelinePartition = (pipeline: string) => `PIPELINE#${pipeline}`;
export const VERSION_PREFIX = 'VERSION#';
export const pipelineKey = (pipeline: string, version: string) => ({
  pk: pipelinePartition(pipeline),
  sk: `${VERSION_PREFIX}${version}`,
});
export const liveKey = (pipeline: string) => ({ pk: pipelinePartition(pipeline), sk: 'LIVE' });
/** The mark that every item stored before an index existed has been given that index's keys. */
export const indexBackfillKey = (index: string) => ({ pk: `INDEX#${index}`, sk: 'BACKFILLED' });

/** True for the key of a deal item (the outbox consumes those; history, events and approvals have their own keys). */
export function isDealKey(key: Record<string, unknown>): boolean {
  return typeof key.pk === 'string' && key.pk.startsWith('DEAL#') && key.sk === 'DEAL';
}

/**
 * How many partitions of the `byStage` index one stage is split into. Items keep the shard they were written with, so
 * this number and {@link stageShard} must never change once deals are stored.
 */
export const STAGE_INDEX_SHARDS = 8;

/** The index shard of a deal: a stable hash (FNV-1a) of its id. */
export function stageShard(dealId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < dealId.length; i++) {
    hash ^= dealId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % STAGE_INDEX_SHARDS;
}

/** The stage index partition of one shard of a stage. */
export const stagePartition = (pipeline: string, stage: string, shard: number) => `STAGE#${pipeline}#${stage}#${shard}`;

/**
 * A deal's stage index keys: they change only when the deal enters a stage. A deal that left its pipeline, was merged
 * away or deleted has none: it is in no stage's listing, so the board, the digest and rollouts pass it over.
 */
export const stageIndexKeys = (deal: Deal) =>
  isEnded(deal.status)
    ? {}
    : {
        gsi1pk: stagePartition(deal.pipeline, deal.stage, stageShard(deal.dealId)),
        gsi1sk: `${deal.stageEventAt}#${deal.dealId}`,
      };

/** An owner's address or name as the owner index and its filter compare them: trimmed, in lower case. */
export const ownerText = (text: string) => text.trim().toLocaleLowerCase('en');

/**
 * The owner index partition an owner's deals are listed under, before its shard: by the owner's name when the CRM sent
 * one, else by the address. A name finds its deals the moment they are written; an address finds them under the names
 * the read model knows it by (docs/data-model.md).
 */
export function ownerPartition(pipeline: string, owner: Owner): string | null {
  const name = owner.name ? ownerText(owner.name) : '';
  if (name !== '') return `OWNER#${pipeline}#name#${name}`;
  const email = owner.email ? ownerText(owner.email) : '';
  return email === '' ? null : `OWNER#${pipeline}#email#${email}`;
}

/** One shard of an owner's partition: split like a stage's, so one owner's bulk import is not one hot partition. */
export const ownerShardPartition = (partition: string, shard: number) => `${partition}#${shard}`;

/**
 * The deal's owner attributes: `ownerKeys`, its owner's address and name as {@link ownerText} (a list the owner
 * filter matches), and `gsi2pk`, its `byOwner` index partition ({@link ownerPartition}, sharded by
 * {@link stageShard}; the index sorts by `gsi1sk`, the stage entry). A deal without an owner, or in no stage's
 * listing, is in no owner's either.
 */
export const ownerKeys = (deal: Deal) => {
  const keys = [deal.owner?.email, deal.owner?.name].flatMap((part) => (part ? [ownerText(part)] : []));
  const partition = deal.owner && !isEnded(deal.status) ? ownerPartition(deal.pipeline, deal.owner) : null;
  return {
    ...(keys.length > 0 ? { ownerKeys: keys } : {}),
    ...(partition ? { gsi2pk: ownerShardPartition(partition, stageShard(deal.dealId)) } : {}),
  };
};

/** Where a listing of a stage goes on: the shard, and the key to start after within it. */
interface PageToken {
  shard: number;
  key?: Record<string, unknown>;
}

export function encodePageToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/** The page token a client sent back; anything this API did not hand out is refused. */
export function decodePageToken(token: string): PageToken {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    const { shard, key } = (parsed ?? {}) as Partial<PageToken>;
    const validKey = key === undefined || (key !== null && typeof key === 'object' && !Array.isArray(key));
    if (Number.isInteger(shard) && (shard as number) >= 0 && (shard as number) < STAGE_INDEX_SHARDS && validKey) {
      return { shard: shard as number, key };
    }
  } catch {
    // fall through to the refusal below
  }
  throw new BadRequestError(
    'INVALID_NEXT_TOKEN',
    "nextToken is not one this API returned — pass the value of a previous answer's nextToken unchanged",
  );
}
