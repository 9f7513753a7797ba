import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startWorkflowEngine, type WorkflowEngine } from '../../infra/local/workflow-engine.ts';
import { LAMBDA_INVOKE, LAMBDA_INVOKE_CALLBACK } from '../../workflows/definition.ts';
import { finished, localSfnClient } from './workflow-harness.ts';

class DealGoneError extends Error {
  constructor() {
    super('the deal is gone');
    this.name = 'DealGoneError';
  }
}

interface Invocation {
  functionName: string;
  payload: { execution: string; token?: string; input: { fail?: boolean; value?: unknown } };
}

const invocations: Invocation[] = [];
const logLines: string[] = [];

/** Stands in for the Lambda functions: records each call; `fail` in the state input makes it throw. */
async function invoke(functionName: string, payload: unknown): Promise<unknown> {
  const call = { functionName, payload } as Invocation;
  invocations.push(call);
  if (call.payload.input.fail) throw new DealGoneError();
  return { value: call.payload.input.value ?? 'done', at: new Date(0) };
}

const payload = (withToken: boolean) => ({
  'input.$': '$',
  'execution.$': '$$.Execution.Name',
  ...(withToken ? { 'token.$': '$$.Task.Token' } : {}),
});

/** One callback task, optionally with a timeout and catchers, then an end. */
function waitOnce(task: Record<string, unknown> = {}, after: Record<string, unknown> = {}) {
  return JSON.stringify({
    StartAt: 'Wait',
    States: {
      Wait: {
        Type: 'Task',
        Resource: LAMBDA_INVOKE_CALLBACK,
        Parameters: { FunctionName: 'waiter', Payload: payload(true) },
        End: true,
        ...task,
      },
      ...after,
    },
  });
}

const caught = { Caught: { Type: 'Pass', End: true } };

describe('the local workflow engine, through @aws-sdk/client-sfn', () => {
  let engine: WorkflowEngine;
  let sfn: SFNClient;
  let names = 0;

  const uniqueName = () => `execution-${++names}`;

  async function createStateMachine(name: string, definition: string): Promise<string> {
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name, definition, roleArn: 'arn:aws:iam::000000000000:role/test' }),
    );
    return stateMachineArn ?? '';
  }

  async function start(stateMachineArn: string, input: unknown = {}, name = uniqueName()) {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return { executionArn: executionArn ?? '', name };
  }

  /** The task token the named execution's callback task handed to the function. */
  async function tokenOf(execution: string): Promise<string> {
    return vi.waitFor(
      () => {
        const token = invocations.findLast((call) => call.payload.execution === execution)?.payload.token;
        expect(token).toMatch(/^[A-Za-z0-9_-]{64}$/);
        return token as string;
      },
      { timeout: 5_000, interval: 10 },
    );
  }

  beforeAll(async () => {
    engine = await startWorkflowEngine({ port: 0, invoke, log: (line) => logLines.push(line), verbose: true });
    sfn = localSfnClient(engine.url);
  });

  afterAll(async () => {
    sfn.destroy();
    await engine.close();
  });

  it('listens on loopback', () => {
    expect(engine.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates a state machine once per name and definition, and describes it', async () => {
    const definition = waitOnce();
    const arn = await createStateMachine('described', definition);
    expect(arn).toBe('arn:aws:states:us-east-1:000000000000:stateMachine:described');
    expect(await createStateMachine('described', definition)).toBe(arn);
    const described = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    expect(described).toMatchObject({ stateMachineArn: arn, name: 'described', definition, status: 'ACTIVE' });
    expect(described.creationDate).toBeInstanceOf(Date);
  });

  it('refuses definitions it cannot run, and bad names', async () => {
    const refusals: [string, string, string][] = [
      ['broken', '{ not json', 'InvalidDefinition'],
      ['dangling', JSON.stringify({ StartAt: 'Nowhere', States: { Here: { Type: 'Succeed' } } }), 'InvalidDefinition'],
      ['queue', waitOnce({ Resource: 'arn:aws:states:::sqs:sendMessage' }), 'InvalidDefinition'],
      ['has space', waitOnce(), 'InvalidName'],
    ];
    for (const [name, definition, code] of refusals) {
      await expect(createStateMachine(name, definition), name).rejects.toMatchObject({ name: code });
    }
    await expect(
      sfn.send(
        new DescribeStateMachineCommand({ stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:x' }),
      ),
    ).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
  });

  it('answers a callback task with SendTaskSuccess exactly once', async () => {
    const machine = await createStateMachine('wait-once', waitOnce());
    const { executionArn, name } = await start(machine, { value: 1 });
    const taskToken = await tokenOf(name);
    expect(invocations.findLast((call) => call.payload.execution === name)?.functionName).toBe('waiter');

    await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{ nope' }))).rejects.toMatchObject({
      name: 'InvalidOutput',
    });
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{"answer":42}' }));
    const description = await finished(sfn, executionArn);
    expect(description).toMatchObject({ status: 'SUCCEEDED', output: '{"answer":42}', input: '{"value":1}', name });
    expect(description.stopDate?.getTime()).toBeGreaterThanOrEqual(description.startDate?.getTime() ?? Infinity);

    for (const send of [
      () => sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' })),
      () => sfn.send(new SendTaskFailureCommand({ taskToken, error: 'Late' })),
      () => sfn.send(new SendTaskHeartbeatCommand({ taskToken })),
    ]) {
      await expect(send()).rejects.toMatchObject({ name: 'TaskTimedOut' });
    }
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: 'A'.repeat(64), output: '{}' })),
    ).rejects.toMatchObject({ name: 'InvalidToken' });
  });

  it('passes any JSON output of SendTaskSuccess through unchanged', async () => {
    const machine = await createStateMachine('wait-once', waitOnce());
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const { executionArn, name } = await start(machine);
        const output = JSON.stringify(value);
        await sfn.send(new SendTaskSuccessCommand({ taskToken: await tokenOf(name), output }));
        const description = await finished(sfn, executionArn);
        expect(JSON.parse(description.output ?? '')).toEqual(JSON.parse(output));
      }),
      { numRuns: 20 },
    );
  });

  it('fails a task with SendTaskFailure under the given error name, which Catch matches', async () => {
    const machine = await createStateMachine(
      'wait-or-catch',
      waitOnce({ Catch: [{ ErrorEquals: ['Rejected'], Next: 'Caught' }] }, caught),
    );
    const handled = await start(machine);
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: await tokenOf(handled.name), error: 'Rejected', cause: 'no budget' }),
    );
    expect(await finished(sfn, handled.executionArn)).toMatchObject({
      status: 'SUCCEEDED',
      output: JSON.stringify({ Error: 'Rejected', Cause: 'no budget' }),
    });

    const unhandled = await start(machine);
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: await tokenOf(unhandled.name), error: 'Other', cause: 'why' }),
    );
    expect(await finished(sfn, unhandled.executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'Other',
      cause: 'why',
    });
  });

  it('fails a task whose function throws, under the error name, for callback and plain tasks', async () => {
    const plain = JSON.stringify({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: LAMBDA_INVOKE,
          Parameters: { FunctionName: 'f', Payload: payload(false) },
          End: true,
        },
      },
    });
    for (const definition of [waitOnce(), plain]) {
      const machine = await createStateMachine('throwing', definition);
      const { executionArn } = await start(machine, { fail: true });
      const description = await finished(sfn, executionArn);
      expect(description).toMatchObject({ status: 'FAILED', error: 'DealGoneError' });
      expect(JSON.parse(description.cause ?? '')).toEqual({
        errorType: 'DealGoneError',
        errorMessage: 'the deal is gone',
      });
    }
  });

  it('wraps a plain lambda:invoke result as the cloud integration does', async () => {
    const machine = await createStateMachine(
      'plain-invoke',
      JSON.stringify({
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: LAMBDA_INVOKE,
            Parameters: { FunctionName: 'f', Payload: payload(false) },
            ResultSelector: {
              'value.$': '$.Payload.value',
              'at.$': '$.Payload.at',
              'status.$': '$.StatusCode',
              'version.$': '$.ExecutedVersion',
            },
            ResultPath: '$.result',
            End: true,
          },
        },
      }),
    );
    const { executionArn } = await start(machine, { value: 'v' });
    const description = await finished(sfn, executionArn);
    expect(JSON.parse(description.output ?? '')).toEqual({
      value: 'v',
      result: { value: 'v', at: '1970-01-01T00:00:00.000Z', status: 200, version: '$LATEST' },
    });
  });

  it('times a callback task out after TimeoutSecondsPath, read from the state input, and spends its token', async () => {
    const again = {
      Again: {
        Type: 'Task',
        Resource: LAMBDA_INVOKE_CALLBACK,
        Parameters: { FunctionName: 'waiter', Payload: payload(true) },
        End: true,
      },
    };
    const machine = await createStateMachine(
      'wait-briefly',
      waitOnce(
        {
          TimeoutSecondsPath: '$.seconds',
          Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timeout', Next: 'Again' }],
        },
        again,
      ),
    );
    const { executionArn, name } = await start(machine, { seconds: 1 });
    const timedOut = await tokenOf(name);
    const second = await vi.waitFor(
      async () => {
        const token = await tokenOf(name);
        expect(token).not.toBe(timedOut);
        return token;
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(invocations.findLast((call) => call.payload.execution === name)?.payload.input).toMatchObject({
      seconds: 1,
      timeout: { Error: 'States.Timeout' },
    });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: timedOut, output: '{}' }))).rejects.toMatchObject({
      name: 'TaskTimedOut',
    });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: second, output: '"second"' }));
    expect(await finished(sfn, executionArn)).toMatchObject({ status: 'SUCCEEDED', output: '"second"' });
  });

  it('starts an execution name once: a repeated running start is a no-op, anything else ExecutionAlreadyExists', async () => {
    const machine = await createStateMachine('wait-once', waitOnce());
    const first = await start(machine, { deal: 1 }, 'deal-1-g1');
    expect(first.executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:wait-once:deal-1-g1');
    expect((await start(machine, { deal: 1 }, 'deal-1-g1')).executionArn).toBe(first.executionArn);
    await expect(start(machine, { deal: 2 }, 'deal-1-g1')).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });

    await sfn.send(new SendTaskSuccessCommand({ taskToken: await tokenOf('deal-1-g1'), output: '{}' }));
    await finished(sfn, first.executionArn);
    await expect(start(machine, { deal: 1 }, 'deal-1-g1')).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });

    const unknown = 'arn:aws:states:us-east-1:000000000000:stateMachine:unknown';
    await expect(start(unknown)).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: machine, name: uniqueName(), input: '{ nope' })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: `${first.executionArn}-unknown` })),
    ).rejects.toMatchObject({ name: 'ExecutionDoesNotExist' });
  });

  it('stops an execution, spends its tokens and lists it by status', async () => {
    const machine = await createStateMachine('stoppable', waitOnce());
    const stopped = await start(machine);
    const running = await start(machine);
    const taskToken = await tokenOf(stopped.name);
    const { stopDate } = await sfn.send(
      new StopExecutionCommand({ executionArn: stopped.executionArn, error: 'Restart', cause: 'config migrated' }),
    );
    expect(stopDate).toBeInstanceOf(Date);
    expect(await finished(sfn, stopped.executionArn)).toMatchObject({
      status: 'ABORTED',
      error: 'Restart',
      cause: 'config migrated',
    });
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }))).rejects.toMatchObject({
      name: 'TaskTimedOut',
    });

    const listed = async (statusFilter: 'ABORTED' | 'RUNNING') =>
      (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, statusFilter }))).executions?.map(
        (execution) => execution.executionArn,
      );
    expect(await listed('ABORTED')).toEqual([stopped.executionArn]);
    await vi.waitFor(async () => expect(await listed('RUNNING')).toEqual([running.executionArn]));

    const firstPage = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, maxResults: 1 }));
    expect(firstPage.executions?.map((execution) => execution.executionArn)).toEqual([running.executionArn]);
    const secondPage = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machine, maxResults: 1, nextToken: firstPage.nextToken }),
    );
    expect(secondPage.executions?.map((execution) => execution.executionArn)).toEqual([stopped.executionArn]);
    expect(secondPage.nextToken).toBeUndefined();
  });

  it('keeps a running execution on its definition when the state machine is updated', async () => {
    const version = (label: string) =>
      waitOnce({ End: undefined, Next: 'Done' }, { Done: { Type: 'Pass', Result: label, End: true } });
    const machine = await createStateMachine('versioned', version('v1'));
    const older = await start(machine);
    await tokenOf(older.name);
    expect(await createStateMachine('versioned', version('v2'))).toBe(machine);
    const newer = await start(machine);
    for (const execution of [older, newer]) {
      await sfn.send(new SendTaskSuccessCommand({ taskToken: await tokenOf(execution.name), output: '{}' }));
    }
    expect((await finished(sfn, older.executionArn)).output).toBe('"v1"');
    expect((await finished(sfn, newer.executionArn)).output).toBe('"v2"');
  });

  it('counts state transitions, Map iterations included', async () => {
    const machine = await createStateMachine(
      'mapped',
      JSON.stringify({
        StartAt: 'Each',
        States: {
          Each: {
            Type: 'Map',
            ItemsPath: '$.items',
            ItemProcessor: { StartAt: 'Item', States: { Item: { Type: 'Pass', End: true } } },
            Next: 'Done',
          },
          Done: { Type: 'Succeed' },
        },
      }),
    );
    const { executionArn } = await start(machine, { items: [1, 2, 3] });
    expect((await finished(sfn, executionArn)).status).toBe('SUCCEEDED');
    expect(engine.transitions(executionArn)).toBe(5);
    expect(() => engine.transitions(`${executionArn}-unknown`)).toThrow(/Execution Does Not Exist/);
  });

  it('answers an operation it does not know with UnknownOperationException', async () => {
    const response = await fetch(engine.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.DeleteActivity' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });

  it('never logs a task token', async () => {
    const machine = await createStateMachine('wait-once', waitOnce());
    const { executionArn, name } = await start(machine);
    const taskToken = await tokenOf(name);
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' }));
    await finished(sfn, executionArn);
    const logged = logLines.join('\n');
    expect(logged).toContain(`execution ${executionArn} SUCCEEDED`);
    expect(logged).not.toContain(taskToken);
  });
});

describe('closing the local workflow engine', () => {
  it('logs neither starts nor aborts by default, only one line for the executions a stop aborted', async () => {
    const lines: string[] = [];
    const engine = await startWorkflowEngine({ port: 0, invoke, log: (line) => lines.push(line) });
    const sfn = localSfnClient(engine.url);
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'quiet', definition: waitOnce(), roleArn: 'arn:aws:iam::0:role/x' }),
    );
    for (const name of ['one', 'two', 'three']) await sfn.send(new StartExecutionCommand({ stateMachineArn, name }));
    await engine.close();
    expect(lines.filter((line) => line.startsWith('execution ') || line.startsWith('state machine '))).toEqual([]);
    expect(lines).toContain('workflow engine stopped: 3 running execution(s) aborted; they restart with the stack');
    sfn.destroy();
  });

  it('aborts running executions and stops answering, logging each when verbose', async () => {
    const lines: string[] = [];
    const engine = await startWorkflowEngine({ port: 0, invoke, log: (line) => lines.push(line), verbose: true });
    const sfn = localSfnClient(engine.url);
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({ name: 'closing', definition: waitOnce(), roleArn: 'arn:aws:iam::0:role/x' }),
    );
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'left-running' }));
    await engine.close();
    expect(lines.filter((line) => line.startsWith(`execution ${executionArn} `))).toEqual([
      `execution ${executionArn} started`,
      `execution ${executionArn} ABORTED: the workflow engine stopped`,
    ]);
    await expect(fetch(engine.url, { method: 'POST' })).rejects.toThrow();
    sfn.destroy();
  });
});
