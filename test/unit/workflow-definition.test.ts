import { fileURLToPath } from 'node:url';
import { CreateStateMachineCommand, SendTaskSuccessCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import aslValidator from 'asl-validator';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import { InvalidConfigError } from '../../functions/core/errors.ts';
import { type PipelineConfig, PipelineConfigSchema } from '../../functions/core/pipeline-config.ts';
import { startWorkflowEngine, type WorkflowEngine } from '../../infra/local/workflow-engine.ts';
import {
  type ApprovalTimer,
  approvalStateNames,
  buildStateMachineDefinition,
  LAMBDA_INVOKE,
  LAMBDA_INVOKE_CALLBACK,
  STAGE_WAIT_SECONDS,
  STATE_NAMES,
  type State,
  type StateMachineDefinition,
  stateMachineName,
  type TaskState,
  type WorkflowPosition,
} from '../../workflows/definition.ts';
import {
  type DealScript,
  finished,
  localSfnClient,
  ScriptedWorkflowFunction,
  WORKFLOW_FUNCTION_ARN,
} from './workflow-harness.ts';

const { config } = loadPipelineConfig(fileURLToPath(new URL('../../stage-config/default.yaml', import.meta.url)));
const definition = buildStateMachineDefinition(config, WORKFLOW_FUNCTION_ARN);

/** asl-validator annotates what it checks, so it gets a copy. */
function validate(candidate: StateMachineDefinition) {
  return aslValidator(structuredClone(candidate));
}

/** Every Task state, those inside Map item processors included. */
function allTasks(states: Record<string, State>): [string, TaskState][] {
  return Object.entries(states).flatMap(([name, state]): [string, TaskState][] => {
    if (state.Type === 'Task') return [[name, state]];
    if (state.Type === 'Map') return allTasks(state.ItemProcessor.States);
    return [];
  });
}

function stateOf<T extends State['Type']>(
  states: Record<string, State>,
  name: string,
  type: T,
): Extract<State, { Type: T }> {
  const state = states[name];
  expect(state?.Type, `state '${name}'`).toBe(type);
  return state as Extract<State, { Type: T }>;
}

const approvalStages = config.stages.filter((s) => s.entryApprovals.length > 0 || s.exitApprovals.length > 0);

describe('the generated definition of the default pipeline', () => {
  it('is valid Amazon States Language', () => {
    const result = validate(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('starts at Route, which sends pending approvals first, then every stage to its state', () => {
    expect(definition.StartAt).toBe(STATE_NAMES.route);
    expect(definition.Comment).toContain("'default'");
    const route = stateOf(definition.States, STATE_NAMES.route, 'Choice');
    expect(approvalStages.map((s) => s.key)).toEqual(['propose', 'deliver']);
    expect(route.Choices).toEqual([
      ...approvalStages.map((stage) => ({
        And: [
          { Variable: '$.stage', StringEquals: stage.key },
          { Variable: '$.approvals[0]', IsPresent: true },
        ],
        Next: `${stage.key}.Approvals`,
      })),
      ...config.stages.map((stage) => ({ Variable: '$.stage', StringEquals: stage.key, Next: stage.key })),
    ]);
    expect(route.Default).toBe('UnknownStage');
    expect(stateOf(definition.States, 'UnknownStage', 'Fail').Error).toBe('UnknownStage');
  });

  it('makes every open stage one callback task that waits for the next move and hands over after 30 days', () => {
    const open = config.stages.filter((s) => !s.closed);
    expect(open.map((s) => s.key)).toEqual(['identify', 'qualify', 'propose', 'negotiate', 'deliver']);
    for (const stage of open) {
      const task = stateOf(definition.States, stage.key, 'Task');
      expect(task).toMatchObject({
        Resource: LAMBDA_INVOKE_CALLBACK,
        TimeoutSeconds: STAGE_WAIT_SECONDS,
        Next: STATE_NAMES.route,
        Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: STATE_NAMES.continueAsNew }],
      });
      expect(task.Parameters).toEqual({
        FunctionName: WORKFLOW_FUNCTION_ARN,
        Payload: {
          action: 'await',
          'pipeline.$': '$.pipeline',
          'dealId.$': '$.dealId',
          stage: stage.key,
          'executionId.$': '$$.Execution.Id',
          'taskToken.$': '$$.Task.Token',
          'position.$': '$',
        },
      });
    }
    expect(STAGE_WAIT_SECONDS).toBe(2_592_000);
  });

  it('ends the workflow at every closed stage after one notice', () => {
    for (const key of ['closed_won', 'closed_lost']) {
      const task = stateOf(definition.States, key, 'Task');
      expect(task).toMatchObject({ Resource: LAMBDA_INVOKE, ResultPath: null, End: true });
      expect(task.Parameters.Payload).toEqual({
        action: 'closed',
        'pipeline.$': '$.pipeline',
        'dealId.$': '$.dealId',
        stage: key,
      });
    }
  });

  it('runs approval timers only where a stage has approvals: request, remind on timeout, then expire', () => {
    const maps = Object.entries(definition.States).filter(([, state]) => state.Type === 'Map');
    expect(maps.map(([name]) => name)).toEqual(['propose.Approvals', 'deliver.Approvals']);
    for (const stage of approvalStages) {
      const names = approvalStateNames(stage.key);
      const map = stateOf(definition.States, names.map, 'Map');
      expect(map).toMatchObject({ ItemsPath: '$.approvals', MaxConcurrency: 0, ResultPath: null, Next: stage.key });
      expect(map.ItemSelector).toEqual({
        'pipeline.$': '$.pipeline',
        'dealId.$': '$.dealId',
        'approval.$': '$$.Map.Item.Value',
      });
      const inner = map.ItemProcessor.States;
      expect(map.ItemProcessor.StartAt).toBe(names.request);
      expect(stateOf(inner, names.request, 'Task')).toMatchObject({
        Resource: LAMBDA_INVOKE_CALLBACK,
        TimeoutSecondsPath: '$.approval.reminderSeconds',
        Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: names.remind }],
        End: true,
        Parameters: { Payload: { action: 'request-approval', 'taskToken.$': '$$.Task.Token' } },
      });
      expect(stateOf(inner, names.remind, 'Task')).toMatchObject({
        Resource: LAMBDA_INVOKE_CALLBACK,
        TimeoutSecondsPath: '$.approval.expirySeconds',
        Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: names.expire }],
        End: true,
        Parameters: { Payload: { action: 'remind-approval', 'taskToken.$': '$$.Task.Token' } },
      });
      expect(stateOf(inner, names.expire, 'Task')).toMatchObject({
        Resource: LAMBDA_INVOKE,
        ResultPath: null,
        End: true,
        Parameters: { Payload: { action: 'expire-approval', 'approvalId.$': '$.approval.approvalId' } },
      });
    }
  });

  it('retries transient Lambda errors in every task', () => {
    const tasks = allTasks(definition.States);
    expect(tasks).toHaveLength(config.stages.length + 1 + approvalStages.length * 3);
    for (const [name, task] of tasks) {
      expect(task.Retry, name).toEqual([
        {
          ErrorEquals: [
            'Lambda.ServiceException',
            'Lambda.AWSLambdaException',
            'Lambda.SdkClientException',
            'Lambda.TooManyRequestsException',
          ],
          IntervalSeconds: 1,
          MaxAttempts: 3,
          BackoffRate: 2,
        },
      ]);
    }
    expect(stateOf(definition.States, STATE_NAMES.continueAsNew, 'Task').Parameters.Payload).toEqual({
      action: 'continue',
      'pipeline.$': '$.pipeline',
      'dealId.$': '$.dealId',
      'executionId.$': '$$.Execution.Id',
    });
  });

  it('names the state machine after the pipeline', () => {
    expect(stateMachineName('default')).toBe('stageflow-default');
  });

  it('refuses a stage key too long to name its states, saying which and how long they may be', () => {
    const long = structuredClone(config);
    const key = `s${'x'.repeat(64)}`;
    long.stages[0] = { ...config.stages[0], key } as PipelineConfig['stages'][number];
    const attempt = () => buildStateMachineDefinition(long, WORKFLOW_FUNCTION_ARN);
    expect(attempt).toThrow(InvalidConfigError);
    expect(attempt).toThrow(/at most 64 characters/);
    expect(() => buildStateMachineDefinition(long, WORKFLOW_FUNCTION_ARN)).toThrowError(
      expect.objectContaining({ issues: [expect.objectContaining({ path: 'stages[0].key' })] }),
    );
  });
});

describe('the generated definition of any pipeline', () => {
  const pipelines = fc
    .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), { minLength: 2, maxLength: 9 })
    .chain((keys) =>
      fc.tuple(
        fc.constant(keys),
        fc.array(fc.record({ closed: fc.boolean(), entry: fc.boolean(), exit: fc.boolean() }), {
          minLength: keys.length,
          maxLength: keys.length,
        }),
      ),
    )
    .map(([keys, traits]) =>
      PipelineConfigSchema.parse({
        pipeline: 'generated',
        name: 'Generated',
        approvers: { finance: { name: 'Finance', email: 'finance@example.com' } },
        stages: keys.map((key, i) => ({
          key,
          name: key,
          definition: `stage ${key}`,
          ...(traits[i]?.closed ? { closed: 'won' } : {}),
          entryApprovals: traits[i]?.entry ? ['finance'] : [],
          exitApprovals: traits[i]?.exit ? [{ role: 'finance' }] : [],
        })),
      }),
    );

  it('is valid and routes every stage, approvals first', () => {
    fc.assert(
      fc.property(pipelines, (pipeline) => {
        const generated = buildStateMachineDefinition(pipeline, WORKFLOW_FUNCTION_ARN);
        expect(validate(generated).errorsText('\n')).toBe('');
        const route = stateOf(generated.States, STATE_NAMES.route, 'Choice');
        const withApprovals = pipeline.stages.filter((s) => s.entryApprovals.length + s.exitApprovals.length > 0);
        expect(route.Choices.map((rule) => rule.Next)).toEqual([
          ...withApprovals.map((s) => approvalStateNames(s.key).map),
          ...pipeline.stages.map((s) => s.key),
        ]);
        for (const stage of pipeline.stages) {
          const task = stateOf(generated.States, stage.key, 'Task');
          expect(task.End === true).toBe(stage.closed !== undefined);
        }
      }),
      // asl-validator takes ~0.3 s per definition.
      { numRuns: 15 },
    );
  });
});

describe('the generated definition, run on the local engine', () => {
  let engine: WorkflowEngine;
  let workflowFunction: ScriptedWorkflowFunction;
  let sfn: ReturnType<typeof localSfnClient>;
  let stateMachineArn: string;
  let dealCount = 0;

  const approval = (approvalId: string, reminderSeconds = 86_400, expirySeconds = 172_800): ApprovalTimer => ({
    approvalId,
    reminderSeconds,
    expirySeconds,
  });
  const validation = [approval('finance-1'), approval('legal-1')];

  async function register(name: string, candidate: StateMachineDefinition): Promise<string> {
    const created = await sfn.send(
      new CreateStateMachineCommand({ name, definition: JSON.stringify(candidate), roleArn: 'arn:aws:iam::0:role/x' }),
    );
    return created.stateMachineArn ?? '';
  }

  /** Starts a scripted deal at `stage` and waits for its execution to end. */
  async function runDeal(start: Omit<WorkflowPosition, 'pipeline' | 'dealId'>, script: DealScript, machine?: string) {
    dealCount += 1;
    const dealId = `D-${dealCount}`;
    workflowFunction.script(dealId, script);
    const { executionArn = '' } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine ?? stateMachineArn,
        name: dealId,
        input: JSON.stringify({ pipeline: 'default', dealId, ...start }),
      }),
    );
    const description = await finished(sfn, executionArn);
    return { dealId, executionArn, description, trace: workflowFunction.trace(dealId) };
  }

  beforeAll(async () => {
    engine = await startWorkflowEngine({ port: 0, invoke: (name, payload) => workflowFunction.invoke(name, payload) });
    sfn = localSfnClient(engine.url);
    workflowFunction = new ScriptedWorkflowFunction(sfn);
    stateMachineArn = await register(stateMachineName('default'), definition);
  });

  afterAll(async () => {
    sfn.destroy();
    await engine.close();
  });

  it('takes a won deal from identify to closed_won through the Finance/Legal validation in 15 transitions', async () => {
    const { description, trace, executionArn } = await runDeal(
      { stage: 'identify' },
      {
        moves: [
          { stage: 'qualify' },
          { stage: 'propose' },
          { stage: 'negotiate' },
          { stage: 'deliver', approvals: validation },
          { stage: 'closed_won' },
        ],
        answers: { 'finance-1': 'approve', 'legal-1': 'approve' },
      },
    );
    expect(description.status).toBe('SUCCEEDED');
    expect(trace.slice(0, 4)).toEqual(['await:identify', 'await:qualify', 'await:propose', 'await:negotiate']);
    expect(trace.slice(4, 6).sort()).toEqual(['request-approval:finance-1', 'request-approval:legal-1']);
    expect(trace.slice(6)).toEqual(['await:deliver', 'closed:closed_won']);
    // Route+stage for identify…negotiate (8), Route, deliver.Approvals, 2 requests, deliver, Route, closed_won (7).
    expect(engine.transitions(executionArn)).toBe(15);
    expect(engine.transitions(executionArn)).toBeLessThanOrEqual(25);
  });

  it('closes a lost deal from qualify', async () => {
    const { description, trace } = await runDeal(
      { stage: 'identify' },
      { moves: [{ stage: 'qualify' }, { stage: 'closed_lost' }] },
    );
    expect(description.status).toBe('SUCCEEDED');
    expect(trace).toEqual(['await:identify', 'await:qualify', 'closed:closed_lost']);
  });

  it('follows a deal backward and forward again', async () => {
    const path = ['qualify', 'propose', 'qualify', 'propose', 'negotiate', 'propose', 'closed_lost'];
    const { description, trace } = await runDeal({ stage: 'identify' }, { moves: path.map((stage) => ({ stage })) });
    expect(description.status).toBe('SUCCEEDED');
    expect(trace).toEqual([
      'await:identify',
      ...path.slice(0, -1).map((stage) => `await:${stage}`),
      'closed:closed_lost',
    ]);
  });

  it('goes on waiting in the stage after an approver rejects', async () => {
    const { description, trace } = await runDeal(
      { stage: 'negotiate' },
      {
        moves: [{ stage: 'deliver', approvals: validation }, { stage: 'negotiate' }, { stage: 'closed_lost' }],
        answers: { 'finance-1': 'reject', 'legal-1': 'approve' },
      },
    );
    expect(description.status).toBe('SUCCEEDED');
    expect(trace[0]).toBe('await:negotiate');
    expect(trace.slice(1, 3).sort()).toEqual(['request-approval:finance-1', 'request-approval:legal-1']);
    expect(trace.slice(3)).toEqual(['await:deliver', 'await:negotiate', 'closed:closed_lost']);
  });

  it('reminds the approver, then expires an unanswered approval, and spends each timed-out token', async () => {
    const { description, trace, dealId } = await runDeal(
      { stage: 'propose' },
      { moves: [{ stage: 'propose', approvals: [approval('manager-1', 1, 1)] }, { stage: 'closed_lost' }] },
    );
    expect(description.status).toBe('SUCCEEDED');
    expect(trace).toEqual([
      'await:propose',
      'request-approval:manager-1',
      'remind-approval:manager-1',
      'expire-approval:manager-1',
      'await:propose',
      'closed:closed_lost',
    ]);
    const timedOut = workflowFunction.calls.filter(
      (call) => call.dealId === dealId && (call.action === 'request-approval' || call.action === 'remind-approval'),
    );
    expect(timedOut).toHaveLength(2);
    for (const call of timedOut) {
      const taskToken = 'taskToken' in call ? call.taskToken : '';
      await expect(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }))).rejects.toMatchObject({
        name: 'TaskTimedOut',
      });
    }
  });

  it('starts at a mid stage, and at a stage whose approvals are still pending', async () => {
    const mid = await runDeal({ stage: 'negotiate' }, { moves: [{ stage: 'closed_lost' }] });
    expect(mid.description.status).toBe('SUCCEEDED');
    expect(mid.trace).toEqual(['await:negotiate', 'closed:closed_lost']);

    const pending = await runDeal(
      { stage: 'deliver', approvals: validation },
      { moves: [{ stage: 'closed_won' }], answers: { 'finance-1': 'approve', 'legal-1': 'approve' } },
    );
    expect(pending.description.status).toBe('SUCCEEDED');
    expect(pending.trace.slice(0, 2).sort()).toEqual(['request-approval:finance-1', 'request-approval:legal-1']);
    expect(pending.trace.slice(2)).toEqual(['await:deliver', 'closed:closed_won']);
  });

  it('fails an execution that names a stage the pipeline does not have', async () => {
    const { description, trace } = await runDeal({ stage: 'nowhere' }, { moves: [] });
    expect(description.status).toBe('FAILED');
    expect(description.error).toBe('UnknownStage');
    expect(trace).toEqual([]);
  });

  it('hands a deal that waited too long to a fresh execution', async () => {
    const shortWait = structuredClone(definition);
    const identify = stateOf(shortWait.States, 'identify', 'Task');
    identify.TimeoutSeconds = 1;
    const machine = await register('stageflow-default-short-wait', shortWait);
    const { description, trace, executionArn, dealId } = await runDeal({ stage: 'identify' }, { moves: [] }, machine);
    expect(description.status).toBe('SUCCEEDED');
    expect(trace).toEqual(['await:identify', 'continue']);
    expect(workflowFunction.calls.find((call) => call.dealId === dealId && call.action === 'continue')).toEqual({
      action: 'continue',
      pipeline: 'default',
      dealId,
      executionId: executionArn,
    });
  });
});
