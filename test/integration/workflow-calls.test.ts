import { AsyncLocalStorage } from 'node:async_hooks';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { dynamoDb } from '../../functions/adapters/aws-clients.ts';
import { dealKey } from '../../functions/adapters/deals/keys.ts';
import type { WorkflowState } from '../../functions/core/stored-deal.ts';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { TABLE_NAME } from '../../infra/local/stack.ts';
import { postGeneric, uniqueId } from '../support/api.ts';
import { inProcessStackForSuite } from '../support/in-process-stack.ts';

/**
 * What the outbox and the workflow cost in calls on a deal's item after a decision: a new deal's execution is
 * started from its creation record and parks its token on the version it was started at, without reading the deal.
 */

const outside = new AsyncLocalStorage<true>();

/** The commands the running stack sends about one deal item (`Key` or `Item` naming it), not this test's own reads. */
function watchDealItem(pipeline: string, dealId: string) {
  const { pk, sk } = dealKey(pipeline, dealId);
  const sent: string[] = [];
  const name = uniqueId('watchDealItem');
  dynamoDb().middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: { pk?: string; sk?: string }; Item?: { pk?: string; sk?: string } };
      const item = input.Key ?? input.Item;
      if (!outside.getStore() && item?.pk === pk && item.sk === sk) {
        sent.push(String(context.commandName));
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { sent, stop: () => dynamoDb().middlewareStack.remove(name) };
}

/** Waits, with reads of its own, until the deal's execution waits in `stage` with a token. */
async function parkedIn(pipeline: string, dealId: string, stage: string): Promise<WorkflowState> {
  return outside.run(true, async () => {
    for (let attempt = 0; attempt < 400; attempt++) {
      const { Item } = await dynamoDb().send(
        new GetCommand({ TableName: TABLE_NAME, Key: dealKey(pipeline, dealId), ConsistentRead: true }),
      );
      const workflow = Item?.workflow as WorkflowState | undefined;
      if (workflow?.waitStage === stage && workflow.waitToken) return workflow;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`deal ${dealId} never waited in ${stage}`);
  });
}

describe('the calls on a deal item after a decision', () => {
  const stack = inProcessStackForSuite();

  it('starts a new deal and parks its first stage task with one write and no read', async () => {
    const dealId = uniqueId('PARK');
    const watch = watchDealItem('default', dealId);
    try {
      const created = await outside.run(true, () =>
        postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify', dealName: 'Parked' }, { api: stack().url }),
      );
      expect(created.body).toMatchObject({ outcome: 'applied' });
      const workflow = await parkedIn('default', dealId, 'identify');
      expect(workflow.executionArn).toContain(dealId);
      expect(watch.sent).toEqual(['UpdateItemCommand']);
    } finally {
      watch.stop();
    }
  });

  it('wakes the stage task after a move with one read, and parks the next stage with one write and no read', async () => {
    const dealId = uniqueId('MOVE');
    await outside.run(true, () =>
      postGeneric({ eventId: uniqueId('E'), dealId, stage: 'identify', dealName: 'Moved' }, { api: stack().url }),
    );
    await parkedIn('default', dealId, 'identify');
    const watch = watchDealItem('default', dealId);
    try {
      const moved = await outside.run(true, () =>
        postGeneric(
          { eventId: uniqueId('E'), dealId, stage: 'qualify', fields: EXIT_FIELDS.identify },
          { api: stack().url },
        ),
      );
      expect(moved.body).toMatchObject({ outcome: 'applied', stage: 'qualify' });
      await parkedIn('default', dealId, 'qualify');
      // The webhook reads the deal to decide, the hand-off reads it to wake the waiting task, the next one parks.
      expect(watch.sent).toEqual(['GetItemCommand', 'GetItemCommand', 'UpdateItemCommand']);
    } finally {
      watch.stop();
    }
  });
});
