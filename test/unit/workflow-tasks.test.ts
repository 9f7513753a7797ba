import { SendTaskSuccessCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { positionOf, runWorkflowTask, type WorkflowTask } from '../../functions/usecases/workflow-tasks.ts';
import type { WorkflowPosition } from '../../workflows/definition.ts';
import { approvalServices, InMemoryDeals, useTestSecrets } from '../support/approval-fakes.ts';

const sfn = mockClient(SFNClient);
const NOW = new Date('2026-11-27T11:00:00.000Z');
const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:stageflow-default:run-g2';

let deals: InMemoryDeals;
let services: EffectServices;

beforeAll(() => useTestSecrets());

beforeEach(() => {
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(StopExecutionCommand).resolves({});
  deals = new InMemoryDeals();
  // The stage has nothing to run: no approval is pending, nothing waits.
  deals.changeDeal((deal) => {
    deal.approvals = [];
  });
  deals.deals.set(`${deals.stored.deal.pipeline}#${deals.stored.deal.dealId}`, {
    ...deals.stored,
    workflow: { ...deals.stored.workflow, waitToken: null, waitStage: null },
  });
  services = approvalServices(deals, () => NOW);
});

function awaitTask(position?: WorkflowPosition, executionId = EXECUTION): Extract<WorkflowTask, { action: 'await' }> {
  const { pipeline, dealId, stage } = deals.stored.deal;
  return { action: 'await', pipeline, dealId, stage, executionId, taskToken: 'stage-token', position };
}

describe("a stage's waiting task", () => {
  it('parks its token on the version its position was taken at, without reading the deal', async () => {
    const position = positionOf(deals.stored);
    expect(position.version).toBe(deals.stored.version);
    const getDeal = vi.spyOn(deals, 'getDeal');

    await runWorkflowTask(awaitTask(position), services);

    expect(getDeal).not.toHaveBeenCalled();
    expect(deals.stored.version).toBe((position.version ?? 0) + 1);
    expect(deals.stored.workflow).toMatchObject({
      executionArn: EXECUTION,
      waitStage: position.stage,
      waitToken: 'stage-token',
    });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('reads a deal that moved after its position was taken, and answers at once with where it is now', async () => {
    const task = awaitTask(positionOf(deals.stored));
    deals.changeDeal((deal) => {
      deal.stage = 'negotiate';
    });

    await runWorkflowTask(task, services);

    const answers = sfn.commandCalls(SendTaskSuccessCommand);
    expect(answers).toHaveLength(1);
    expect(answers[0]?.args[0].input).toMatchObject({ taskToken: 'stage-token' });
    expect(JSON.parse(String(answers[0]?.args[0].input.output))).toMatchObject({ stage: 'negotiate', approvals: [] });
    expect(deals.stored.workflow.waitToken).toBeNull();
  });

  it('ends an execution of an older generation than the deal runs, leaving the deal to the newer one', async () => {
    const task = awaitTask(positionOf(deals.stored), EXECUTION.replace(/-g2$/, '-g0'));
    // Another generation took over after this execution was started (a restart of the local stack, a migration).
    deals.changeDeal(() => undefined);
    const before = structuredClone(deals.stored);

    await runWorkflowTask(task, services);

    const stops = sfn.commandCalls(StopExecutionCommand);
    expect(stops.map((call) => call.args[0].input.executionArn)).toEqual([task.executionId]);
    expect(deals.stored).toEqual(before);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('reads the deal when its position names no version, and parks as before', async () => {
    const getDeal = vi.spyOn(deals, 'getDeal');

    await runWorkflowTask(awaitTask(), services);

    expect(getDeal).toHaveBeenCalledOnce();
    expect(deals.stored.workflow).toMatchObject({ executionArn: EXECUTION, waitToken: 'stage-token' });
  });
});

describe('the position an execution runs from', () => {
  it('names the version only when the stage has nothing to run', () => {
    const quiet = deals.stored;
    expect(positionOf(quiet)).toEqual({
      pipeline: quiet.deal.pipeline,
      dealId: quiet.deal.dealId,
      stage: quiet.deal.stage,
      version: quiet.version,
    });
    const asking = new InMemoryDeals().stored;
    expect(asking.deal.approvals.some((a) => a.status === 'pending' && a.visit === asking.deal.visit)).toBe(true);
    expect(positionOf(asking)).not.toHaveProperty('version');
    expect(positionOf({ ...quiet, deal: { ...quiet.deal, status: 'deleted' } })).not.toHaveProperty('version');
  });
});
