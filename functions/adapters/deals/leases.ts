import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, optionalEnv } from '../environment.ts';
import type { ItemUpdate } from './shared-writes.ts';
import { isConditionFailure, type TableRef } from './table-ref.ts';

/**
 * A time-bound claim on one item, so that one run at a time works on what the item guards (a decision's side effects,
 * a deal's write-backs). Every write the run makes is conditioned on its lease id: a run that outlived its lease (a
 * handler that timed out but kept going) is fenced out the moment a successor claims the item.
 */
export interface Lease {
  key: { pk: string; sk: string };
  id: string;
  /** When the lease ends, in epoch milliseconds: the run stops before then. */
  until: number;
}

/** A run's lease was taken over by a successor (it ran past its end): the run must stop writing. */
export class LeaseLostError extends Error {
  constructor(key: { pk: string; sk: string }) {
    super(`the lease on ${key.pk} ${key.sk} was taken over by a later run`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Claims the item at `key` for `durationMs` unless another run holds it: answers the lease and the item's attributes
 * after the claim, or null while another run's lease lasts.
 * The item is created by its first claim.
 */
export async function claimLease(
  table: TableRef,
  key: { pk: string; sk: string },
  nowMs: number,
  durationMs: number,
): Promise<{ lease: Lease; item: Record<string, unknown> } | null> {
  const { lease, update } = leaseClaim(key, nowMs, durationMs, 'taken over');
  try {
    const { Attributes } = await table.db.send(
      new UpdateCommand({ ...update, TableName: table.tableName, ReturnValues: 'ALL_NEW' }),
    );
    return { lease, item: Attributes ?? {} };
  } catch (error) {
    if (isConditionFailure(error)) return null;
    throw error;
  }
}

/**
 * A new lease on the item at `key` and the update that claims it: for `'taken over'`, unless another run's lease
 * lasts (the item is created by its first claim); for `'first'`, only when the item does not exist yet, so that a
 * claim that succeeds knows nothing was done before it.
 */
export function leaseClaim(
  key: { pk: string; sk: string },
  nowMs: number,
  durationMs: number,
  claim: 'taken over' | 'first',
): { lease: Lease; update: ItemUpdate } {
  const lease: Lease = { key, id: randomUUID(), until: nowMs + durationMs };
  const boot = optionalEnv(ENV.localBootId);
  // A lease of an earlier start of the local stack was its dead process's: taken over at once.
  const takenOver = `attribute_not_exists(leaseUntil) OR leaseUntil <= :now${boot ? ' OR leaseBoot <> :boot' : ''}`;
  return {
    lease,
    update: {
      Key: key,
      UpdateExpression: `SET leaseId = :id, leaseUntil = :until${boot ? ', leaseBoot = :boot' : ''}`,
      ConditionExpression: claim === 'first' ? 'attribute_not_exists(pk)' : takenOver,
      ExpressionAttributeValues: {
        ':id': lease.id,
        ':until': lease.until,
        ...(claim === 'first' ? {} : { ':now': nowMs }),
        ...(boot ? { ':boot': boot } : {}),
      },
    },
  };
}

/** Ends a lease early, so the next run need not wait for it to run out; a lease already taken over is left alone. */
export async function releaseLease(table: TableRef, lease: Lease): Promise<void> {
  try {
    await table.db.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: lease.key,
        UpdateExpression: 'SET leaseUntil = :zero',
        ConditionExpression: 'leaseId = :id',
        ExpressionAttributeValues: { ':zero': 0, ':id': lease.id },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** The condition that fences a write on the leased item itself. */
export function heldBy(lease: Lease): {
  ConditionExpression: string;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  return { ConditionExpression: 'leaseId = :leaseId', ExpressionAttributeValues: { ':leaseId': lease.id } };
}

/** A transaction part that fences the transaction's other writes on the lease. */
export function leaseCheck(table: TableRef, lease: Lease) {
  return {
    ConditionCheck: { TableName: table.tableName, Key: lease.key, ...heldBy(lease) },
  };
}
