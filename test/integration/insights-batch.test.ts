import { describe, expect, it } from 'vitest';
import { InsightsStore } from '../../functions/adapters/insights-store.ts';
import { COUNTER } from '../../functions/core/board.ts';
import type { StoredDeal } from '../../functions/core/stored-deal.ts';
import { projectInsights } from '../../functions/usecases/effects/insights-projection.ts';
import { scratchTable } from '../support/local-table.ts';

/** A deal created in identify (with an amount, so the open-deal totals count it). */
function created(dealId: string, day: string): StoredDeal {
  return {
    version: 1,
    workflow: { executionArn: null, generation: 0, waitToken: null, waitStage: null, notifiedVisit: 0 },
    deal: {
      pipeline: 'p',
      dealId,
      dealName: null,
      owner: null,
      stage: 'identify',
      status: 'open',
      configVersion: 'v',
      fields: { amount: 1000 },
      fieldTimes: {},
      stageEventAt: `${day}T09:00:00.000Z`,
      lastEventAt: `${day}T09:00:00.000Z`,
      visit: 1,
      approvals: [],
      pendingMove: null,
      createdAt: `${day}T09:00:00.000Z`,
      updatedAt: `${day}T09:00:00.000Z`,
    },
  };
}

describe('the insights of a bulk import on DynamoDB Local', () => {
  it('writes many deals together and still counts each deal once when their batch is delivered again', async () => {
    const { db, tableName } = await scratchTable('insights');
    const insights = new InsightsStore(db, tableName);
    const calls: string[] = [];
    db.middlewareStack.add((next, context) => (args) => {
      calls.push(String(context.commandName));
      return next(args);
    });
    const deals = Array.from({ length: 60 }, (_, index) =>
      created(`D${index}`, index % 2 === 0 ? '2026-11-02' : '2026-11-03'),
    );
    const project = (stored: StoredDeal[]) =>
      Promise.all(stored.map((after) => projectInsights({ before: null, after }, { insights })));

    // The first 40 deals' creations, handled at once as one stream batch's records are.
    expect(await project(deals.slice(0, 40))).toEqual(Array(40).fill('projected'));
    const firstWrites = calls.filter((name) => name === 'TransactWriteCommand').length;
    expect(firstWrites).toBeLessThan(40);
    // The batch delivered again with the 20 deals after it: the 40 already counted are refused inside the shared
    // writes, the 20 new ones still counted.
    expect(await project(deals)).toEqual([...Array(40).fill('duplicate'), ...Array(20).fill('projected')]);
    expect(await project(deals.slice(30, 50))).toEqual(Array(20).fill('duplicate'));

    expect(await insights.sum('p', '2026-11-02', '2026-11-02')).toEqual({ [COUNTER.entered('identify')]: 30 });
    expect(await insights.sum('p', '2026-11-01', '2026-11-30')).toEqual({ [COUNTER.entered('identify')]: 60 });
    expect(await insights.totals('p')).toMatchObject({ 'count#identify': 60 });
    // A creation is projected without reading the deal's marker first.
    expect(calls).not.toContain('GetCommand');
  });
});
