import type { Logger } from '@aws-lambda-powertools/logger';
import { dynamoDb } from '../../functions/adapters/aws-clients.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { InsightsStore } from '../../functions/adapters/insights-store.ts';
import { projectInsights } from '../../functions/usecases/insights-projection.ts';

/**
 * INTERIM, local stack only: feeds every committed deal change to `projectInsights` until the outbox (the table's
 * stream consumer, functions/outbox/handler.ts) calls it for each change. It wraps the repository's two deal writes
 * (`commit`, `updateWorkflow`) so the change reaches the projection right after it is durable, exactly as a stream
 * record would (old image, new image). Remove this file and its call in stack.ts once the outbox projects insights.
 */
export function feedInsightsFromCommits(tableName: string, logger: Logger): void {
  const insights = new InsightsStore(dynamoDb(), tableName);
  const project = async (change: Parameters<typeof projectInsights>[0]) => {
    try {
      await projectInsights(change, { insights });
    } catch (error) {
      // A read-model failure never fails the decision that was already committed.
      logger.error('insights projection failed', error as Error);
    }
  };
  const { commit, updateWorkflow } = DealRepository.prototype;
  DealRepository.prototype.commit = async function (this: DealRepository, input) {
    const after = await commit.call(this, input);
    if (after && input.decision.deal) await project({ before: input.before, after });
    return after;
  };
  DealRepository.prototype.updateWorkflow = async function (this: DealRepository, before, workflow, deal) {
    const after = await updateWorkflow.call(this, before, workflow, deal);
    await project({ before, after });
    return after;
  };
}
