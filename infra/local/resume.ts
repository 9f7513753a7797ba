import { stepFunctions } from '../../functions/adapters/aws-clients.ts';
import { WorkflowClient } from '../../functions/adapters/workflow-client.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import type { Services } from '../../functions/usecases/services.ts';
import { positionOf } from '../../functions/usecases/workflow-tasks.ts';

/**
 * After a restart the local engine has no executions: every open deal gets a fresh one (the next generation) at its
 * current stage, on the state machine of the config version it started on, so it carries on as if nothing happened —
 * its pending approvals are picked up again with the links already emailed. The stack passes in how a version's state
 * machine is registered, so this step depends on nothing above it.
 */
export async function resumeOpenDeals(
  services: Services,
  current: Map<string, VersionedPipeline>,
  registerStateMachine: (pipeline: VersionedPipeline) => Promise<string>,
): Promise<number> {
  const machines = new Map<string, Promise<string>>();
  const machineFor = (pipeline: VersionedPipeline) => {
    const key = `${pipeline.config.pipeline}@${pipeline.version}`;
    let arn = machines.get(key);
    if (!arn) {
      arn = registerStateMachine(pipeline);
      machines.set(key, arn);
    }
    return arn;
  };
  let resumed = 0;
  for (const pipelineId of current.keys()) {
    const versions = await services.deals.listPipelineVersions(pipelineId);
    const openStages = new Set(versions.flatMap((v) => v.config.stages.filter((s) => !s.closed).map((s) => s.key)));
    for (const stage of openStages) {
      let nextToken: string | undefined;
      do {
        const page = await services.deals.listDeals(pipelineId, stage, { limit: 100, nextToken });
        for (const stored of page.deals) {
          const pipeline = await services.pipelines.version(pipelineId, stored.deal.configVersion);
          const generation = stored.workflow.generation + 1;
          const after = await services.deals.updateWorkflow(stored, { generation, waitToken: null, waitStage: null });
          const workflow = new WorkflowClient(stepFunctions(), { [pipelineId]: await machineFor(pipeline) });
          await workflow.start(positionOf(after), generation);
          resumed++;
        }
        nextToken = page.nextToken ?? undefined;
      } while (nextToken);
    }
  }
  return resumed;
}
