import { describe, expect, it } from 'vitest';
import { EffectMarks } from '../../functions/adapters/deals/effect-marks.ts';
import { LeaseLostError } from '../../functions/adapters/deals/leases.ts';
import { scratchTable } from '../support/local-table.ts';

const RUN_MS = 60_000;

describe('the effect runs of a stream batch on DynamoDB Local', () => {
  it('claims and releases many runs in shared calls, and still fences each run by its own lease', async () => {
    const { db, tableName } = await scratchTable('marks');
    const marks = new EffectMarks({ db, tableName });
    const calls: string[] = [];
    db.middlewareStack.add((next, context) => (args) => {
      calls.push(String(context.commandName));
      return next(args);
    });
    const deals = Array.from({ length: 30 }, (_, index) => `D${index}`);
    const now = Date.parse('2026-11-02T09:00:00.000Z');
    const claimAll = (at: number) => Promise.all(deals.map((dealId) => marks.claimRun('p', dealId, 1, at, RUN_MS)));

    // A batch's first runs: each claim knows nothing was done before it, and they share calls.
    const first = await claimAll(now);
    expect(first.map((claim) => claim?.rerun)).toEqual(Array(30).fill(false));
    expect(first.every((claim) => claim?.done.size === 0)).toBe(true);
    expect(calls.length).toBeLessThan(30);
    // While their leases last, no second run of the same decisions starts.
    expect(await claimAll(now + 1000)).toEqual(Array(30).fill(null));

    // D0's run outlives its lease and a successor takes over; the old run's release with its mark is refused,
    // while the other runs' releases shared with it are written.
    const successor = await marks.claimRun('p', 'D0', 1, now + RUN_MS, RUN_MS);
    expect(successor).toMatchObject({ rerun: true, done: new Set() });
    const at = '2026-11-02T09:00:05.000Z';
    const releases = await Promise.allSettled(
      first.map((claim) => marks.releaseRun(claim?.lease ?? never(), { effect: 'owner:stage', now: at })),
    );
    expect(releases[0]).toMatchObject({ status: 'rejected', reason: expect.any(LeaseLostError) });
    expect(releases.slice(1).map((r) => r.status)).toEqual(Array(29).fill('fulfilled'));

    // A re-run of the released decisions is told apart from a first run and sees the mark; D0's successor still
    // holds its lease.
    const again = await claimAll(now + 2000);
    expect(again[0]).toBeNull();
    for (const claim of again.slice(1)) expect(claim).toMatchObject({ rerun: true, done: new Set(['owner:stage']) });
  });
});

function never(): never {
  throw new Error('every first claim succeeded above');
}
