import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type StateMachineDefinition as LocalDefinition,
  type RunOptions,
  StateMachine,
} from 'aws-local-stepfunctions';
import { z } from 'zod';
import { LAMBDA_INVOKE, LAMBDA_INVOKE_CALLBACK } from '../../workflows/definition.ts';

/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol that `@aws-sdk/client-sfn` speaks, in front of
 * aws-local-stepfunctions. It adds what that library lacks — task tokens, callback tasks, the `lambda:invoke`
 * result envelope, executions addressed by ARN — so the definition deployed to the cloud runs here unchanged.
 * Everything lives in memory; the local stack re-creates the executions of open deals after a restart.
 */

export interface WorkflowEngineOptions {
  /** 0 picks a free port (see `url`). */
  port: number;
  /** Defaults to loopback. */
  host?: string;
  /** Runs a Lambda function as `lambda:invoke` would; a thrown error fails the task with the error's `name`. */
  invoke: (functionName: string, payload: unknown) => Promise<unknown>;
  log?: (line: string) => void;
  /**
   * Also log every execution's start and end and every state machine registration; without it only failures and
   * time-outs are logged, and a stop logs one line for the executions it aborted.
   */
  verbose?: boolean;
}

export interface WorkflowEngine {
  /** The endpoint to give `SFNClient`, e.g. `http://127.0.0.1:8083`. */
  url: string;
  /** Stops the server and aborts every running execution. */
  close(): Promise<void>;
  /** State transitions (states entered, Map iterations included) of an execution so far. */
  transitions(executionArn: string): number;
}

/** A Step Functions API error; the SDK throws an exception named after `code`. */
export class WorkflowEngineError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'WorkflowEngineError';
    this.code = code;
  }
}

/** A failed task as the state machine sees it: Retry and Catch match `name` (e.g. `States.Timeout`). */
export class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

const ARN_PREFIX = 'arn:aws:states:us-east-1:000000000000';
const DEFAULT_ROLE_ARN = 'arn:aws:iam::000000000000:role/stageflow-local-workflow';
/** Step Functions' default task timeout when a Task state sets none. */
const DEFAULT_TASK_TIMEOUT_SECONDS = 99_999_999;
/** Node timers overflow past 2^31-1 ms (they would fire at once): the library's timer is set to this cap... */
const TIMER_LIMIT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** ...and the engine's just below, so longer timeouts (the 30-day stage wait) fire after ~24.8 days locally. */
const MAX_TIMEOUT_SECONDS = TIMER_LIMIT_SECONDS - 1;
const MAX_REQUEST_BYTES = 1024 * 1024;
/** Execution and state machine names, as Step Functions restricts them. */
const VALID_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]{1,80}$/u;
const EXECUTION_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalJson = Parameters<TaskHandlers[string]>[0];
type LocalState = LocalDefinition['States'][string];
type LocalTask = Extract<LocalState, { Type: 'Task' }>;
type TaskKind = 'invoke' | 'callback';

const TASK_KINDS: Record<string, TaskKind> = { [LAMBDA_INVOKE]: 'invoke', [LAMBDA_INVOKE_CALLBACK]: 'callback' };

interface RegisteredStateMachine {
  stateMachineArn: string;
  name: string;
  definition: string;
  roleArn: string;
  creationDate: number;
  machine: StateMachine;
  tasks: Map<string, TaskKind>;
}

interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  transitions: number;
  abort: () => void;
}

type Outcome = Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>;

interface WaitingTask {
  executionArn: string;
  resolve: (output: LocalJson) => void;
  reject: (failure: TaskFailure) => void;
}

/** What the overridden Task handlers receive: the state's resolved Parameters and its timeout (see `prepare`). */
const TaskInputSchema = z.object({
  parameters: z.object({ FunctionName: z.string().min(1), Payload: z.unknown() }),
  timeoutSeconds: z.number().int().positive(),
});

const requests = {
  CreateStateMachine: z.object({ name: z.string(), definition: z.string(), roleArn: z.string().optional() }),
  DescribeStateMachine: z.object({ stateMachineArn: z.string() }),
  StartExecution: z.object({ stateMachineArn: z.string(), name: z.string().optional(), input: z.string().optional() }),
  DescribeExecution: z.object({ executionArn: z.string() }),
  StopExecution: z.object({ executionArn: z.string(), error: z.string().optional(), cause: z.string().optional() }),
  ListExecutions: z.object({
    stateMachineArn: z.string(),
    statusFilter: z.enum(EXECUTION_STATUSES).optional(),
    maxResults: z.number().int().min(0).max(1000).optional(),
    nextToken: z.string().optional(),
  }),
  SendTaskSuccess: z.object({ taskToken: z.string(), output: z.string() }),
  SendTaskFailure: z.object({ taskToken: z.string(), error: z.string().optional(), cause: z.string().optional() }),
  SendTaskHeartbeat: z.object({ taskToken: z.string() }),
};
type Operation = keyof typeof requests;
type Request<O extends Operation> = z.infer<(typeof requests)[O]>;

const nowSeconds = () => Date.now() / 1000;
const isOperation = (name: string): name is Operation => Object.hasOwn(requests, name);

function* allStates(states: Record<string, LocalState>): Generator<[string, LocalState]> {
  for (const [name, state] of Object.entries(states)) {
    yield [name, state];
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor) yield* allStates(processor.States);
    }
    if (state.Type === 'Parallel') {
      for (const branch of state.Branches) yield* allStates(branch.States);
    }
  }
}

/**
 * Makes a Task state's timeout something the engine enforces. aws-local-stepfunctions resolves `TimeoutSecondsPath`
 * against the resolved Parameters instead of the state input, and its timer overflows past ~24.8 days; so the
 * timeout travels next to the Parameters (resolved against the state input, as in the cloud) and the library's own
 * timer is pushed past it.
 */
function hoistTimeout(name: string, state: LocalTask): void {
  if (typeof state.Parameters !== 'object' || state.Parameters === null || Array.isArray(state.Parameters)) {
    throw new WorkflowEngineError('InvalidDefinition', `task state '${name}' needs Parameters with a FunctionName`);
  }
  const parameters = state.Parameters;
  state.Parameters =
    state.TimeoutSecondsPath === undefined
      ? { parameters, timeoutSeconds: state.TimeoutSeconds ?? DEFAULT_TASK_TIMEOUT_SECONDS }
      : { parameters, 'timeoutSeconds.$': state.TimeoutSecondsPath };
  delete state.TimeoutSecondsPath;
  state.TimeoutSeconds = TIMER_LIMIT_SECONDS;
}

/** Validates an ASL definition and readies it for local runs; every Task must be a Lambda integration. */
function prepare(text: string): Pick<RegisteredStateMachine, 'machine' | 'tasks'> {
  let definition: LocalDefinition;
  try {
    definition = JSON.parse(text);
    new StateMachine(definition);
  } catch (error) {
    throw new WorkflowEngineError('InvalidDefinition', error instanceof Error ? error.message : String(error));
  }
  const tasks = new Map<string, TaskKind>();
  for (const [name, state] of allStates(definition.States)) {
    if ('QueryLanguage' in state && state.QueryLanguage === 'JSONata') {
      throw new WorkflowEngineError(
        'InvalidDefinition',
        `state '${name}' uses JSONata; the local engine runs JSONPath`,
      );
    }
    if (state.Type !== 'Task') continue;
    const kind = TASK_KINDS[state.Resource];
    if (!kind) {
      throw new WorkflowEngineError(
        'InvalidDefinition',
        `task state '${name}' uses ${state.Resource}; the local engine runs ${Object.keys(TASK_KINDS).join(' and ')}`,
      );
    }
    tasks.set(name, kind);
    hoistTimeout(name, state);
  }
  return { machine: new StateMachine(definition, { validationOptions: { noValidate: true } }), tasks };
}

/** Races a task against its timeout; `onTimeout` runs before the task fails with `States.Timeout`. */
async function timeLimit<T>(task: Promise<T>, seconds: number, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TaskFailure('States.Timeout', `the task did not finish within ${seconds} s`));
    }, Math.min(seconds, MAX_TIMEOUT_SECONDS) * 1000);
  });
  try {
    return await Promise.race([task, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A Lambda error as `lambda:invoke` reports it: the error type is the name, the cause the JSON error body. */
function asTaskFailure(error: unknown): TaskFailure {
  const errorType = error instanceof Error ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  return new TaskFailure(errorType, JSON.stringify({ errorType, errorMessage }));
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout' };
  const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  return failure instanceof Error
    ? { status: 'FAILED', error: failure.name, cause: failure.message }
    : { status: 'FAILED', error: 'States.Runtime', cause: String(failure) };
}

class Engine {
  private readonly stateMachines = new Map<string, RegisteredStateMachine>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly waiting = new Map<string, WaitingTask>();
  private readonly spentTokens = new Set<string>();
  /** Stands for `$$.Task.Token` in the context object; each task swaps it for a fresh token. */
  private readonly tokenPlaceholder = `local-task-token-${randomUUID()}`;

  constructor(private readonly options: WorkflowEngineOptions) {}

  readonly operations: { [O in Operation]: (request: Request<O>) => object } = {
    CreateStateMachine: ({ name, definition, roleArn }) => {
      if (!VALID_NAME.test(name)) throw new WorkflowEngineError('InvalidName', `'${name}' is not a valid name`);
      const stateMachineArn = `${ARN_PREFIX}:stateMachine:${name}`;
      const existing = this.stateMachines.get(stateMachineArn);
      if (existing?.definition !== definition) {
        this.stateMachines.set(stateMachineArn, {
          stateMachineArn,
          name,
          definition,
          roleArn: roleArn ?? DEFAULT_ROLE_ARN,
          creationDate: existing?.creationDate ?? nowSeconds(),
          ...prepare(definition),
        });
        this.trace(`state machine ${name} ${existing ? 'updated' : 'created'}`);
      }
      return { stateMachineArn, creationDate: this.stateMachine(stateMachineArn).creationDate };
    },
    DescribeStateMachine: ({ stateMachineArn }) => {
      const { name, definition, roleArn, creationDate } = this.stateMachine(stateMachineArn);
      return { stateMachineArn, name, definition, roleArn, creationDate, status: 'ACTIVE', type: 'STANDARD' };
    },
    StartExecution: ({ stateMachineArn, name = randomUUID(), input = '{}' }) =>
      this.start(stateMachineArn, name, input),
    DescribeExecution: ({ executionArn }) => {
      const { abort: _abort, transitions: _transitions, ...description } = this.execution(executionArn);
      return description;
    },
    StopExecution: ({ executionArn, error, cause }) => {
      const record = this.execution(executionArn);
      if (record.status === 'RUNNING') this.stop(record, { status: 'ABORTED', error, cause });
      return { stopDate: record.stopDate };
    },
    ListExecutions: ({ stateMachineArn, statusFilter, maxResults, nextToken }) => {
      this.stateMachine(stateMachineArn);
      const matching = [...this.executions.values()]
        .filter(
          (record) => record.stateMachineArn === stateMachineArn && (!statusFilter || record.status === statusFilter),
        )
        .reverse();
      const offset = nextToken === undefined ? 0 : Number(nextToken);
      const end = offset + (maxResults || 100);
      return {
        executions: matching.slice(offset, end).map(({ executionArn, name, status, startDate, stopDate }) => ({
          executionArn,
          stateMachineArn,
          name,
          status,
          startDate,
          stopDate,
        })),
        nextToken: end < matching.length ? String(end) : undefined,
      };
    },
    SendTaskSuccess: ({ taskToken, output }) => {
      let parsed: LocalJson;
      try {
        parsed = JSON.parse(output);
      } catch {
        throw new WorkflowEngineError('InvalidOutput', 'output is not valid JSON');
      }
      this.claim(taskToken).resolve(parsed);
      return {};
    },
    SendTaskFailure: ({ taskToken, error, cause }) => {
      this.claim(taskToken).reject(new TaskFailure(error ?? 'States.TaskFailed', cause ?? ''));
      return {};
    },
    SendTaskHeartbeat: ({ taskToken }) => {
      this.waitingOn(taskToken);
      return {};
    },
  };

  transitions(executionArn: string): number {
    return this.execution(executionArn).transitions;
  }

  /** Aborts every running execution (on shutdown). */
  stopAll(): void {
    let aborted = 0;
    for (const record of this.executions.values()) {
      if (record.status !== 'RUNNING') continue;
      this.stop(record, { status: 'ABORTED', cause: 'the workflow engine stopped' });
      aborted += 1;
    }
    if (aborted > 0 && !this.options.verbose) {
      this.log(`workflow engine stopped: ${aborted} running execution(s) aborted; they restart with the stack`);
    }
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  /** A routine line: logged only when the engine is verbose. */
  trace(line: string): void {
    if (this.options.verbose) this.log(line);
  }

  private stateMachine(stateMachineArn: string): RegisteredStateMachine {
    const found = this.stateMachines.get(stateMachineArn);
    if (!found) {
      throw new WorkflowEngineError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    }
    return found;
  }

  private execution(executionArn: string): ExecutionRecord {
    const found = this.executions.get(executionArn);
    if (!found) throw new WorkflowEngineError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return found;
  }

  /** Like Step Functions: a name is used once per state machine; repeating a running start with the same input is a no-op. */
  private start(stateMachineArn: string, name: string, input: string): object {
    const stateMachine = this.stateMachine(stateMachineArn);
    if (!VALID_NAME.test(name)) throw new WorkflowEngineError('InvalidName', `'${name}' is not a valid execution name`);
    const executionArn = `${ARN_PREFIX}:execution:${stateMachine.name}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn, startDate: existing.startDate };
      }
      throw new WorkflowEngineError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    let parsedInput: LocalJson;
    try {
      parsedInput = JSON.parse(input);
    } catch {
      throw new WorkflowEngineError('InvalidExecutionInput', 'input is not valid JSON');
    }
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn,
      name,
      input,
      status: 'RUNNING',
      startDate: nowSeconds(),
      transitions: 0,
      abort: () => {},
    };
    this.executions.set(executionArn, record);
    const handlers: TaskHandlers = Object.fromEntries(
      [...stateMachine.tasks].map(([taskName, kind]) => [
        taskName,
        (taskInput) => this.runTask(kind, record, taskInput),
      ]),
    );
    const run = stateMachine.machine.run(parsedInput, {
      overrides: { taskResourceLocalHandlers: handlers },
      context: {
        Execution: { Id: executionArn, Name: name, RoleArn: stateMachine.roleArn },
        StateMachine: { Id: stateMachineArn, Name: stateMachine.name },
        Task: { Token: this.tokenPlaceholder },
      },
    });
    record.abort = run.abort;
    const outcome = run.result.then(
      (output): Outcome => ({ status: 'SUCCEEDED', output: JSON.stringify(output) }),
      outcomeOf,
    );
    void Promise.all([outcome, this.countTransitions(record, run.eventLogs)]).then(([result]) =>
      this.finish(record, result),
    );
    this.trace(`execution ${executionArn} started`);
    return { executionArn, startDate: record.startDate };
  }

  private async countTransitions(record: ExecutionRecord, events: AsyncGenerator<{ type: string }>): Promise<void> {
    for await (const event of events) {
      if (event.type === 'StateEntered') record.transitions += 1;
    }
  }

  private stop(record: ExecutionRecord, outcome: Outcome): void {
    this.finish(record, outcome);
    record.abort();
  }

  private finish(record: ExecutionRecord, outcome: Outcome): void {
    if (record.status !== 'RUNNING') return;
    Object.assign(record, outcome, { stopDate: nowSeconds() });
    for (const [token, task] of this.waiting) {
      if (task.executionArn === record.executionArn) {
        this.claim(token).reject(new TaskFailure('States.Runtime', `the execution is ${record.status}`));
      }
    }
    const why = [record.error, record.cause].filter(Boolean).join(' — ');
    const line = `execution ${record.executionArn} ${record.status}${why ? `: ${why}` : ''}`;
    if (outcome.status === 'FAILED' || outcome.status === 'TIMED_OUT') this.log(line);
    else this.trace(line);
  }

  private async runTask(kind: TaskKind, record: ExecutionRecord, input: LocalJson): Promise<LocalJson> {
    if (record.status !== 'RUNNING') throw new TaskFailure('States.Runtime', `the execution is ${record.status}`);
    const parsed = TaskInputSchema.safeParse(input);
    if (!parsed.success) throw new TaskFailure('States.Runtime', z.prettifyError(parsed.error));
    const { parameters, timeoutSeconds } = parsed.data;
    if (kind === 'invoke') {
      const result = await timeLimit(this.invoke(parameters.FunctionName, parameters.Payload), timeoutSeconds);
      // The cloud serialises the function's result; the round trip makes local values look the same.
      return { Payload: JSON.parse(JSON.stringify(result ?? null)), StatusCode: 200, ExecutedVersion: '$LATEST' };
    }
    const token = randomBytes(48).toString('base64url');
    const answer = Promise.withResolvers<LocalJson>();
    this.waiting.set(token, { executionArn: record.executionArn, ...answer });
    const payload = JSON.parse(JSON.stringify(parameters.Payload ?? {}).replaceAll(this.tokenPlaceholder, token));
    this.invoke(parameters.FunctionName, payload).catch((failure: TaskFailure) => {
      if (this.waiting.has(token)) this.claim(token).reject(failure);
    });
    return timeLimit(answer.promise, timeoutSeconds, () => this.claim(token));
  }

  private async invoke(functionName: string, payload: unknown): Promise<unknown> {
    try {
      return await this.options.invoke(functionName, payload);
    } catch (error) {
      throw asTaskFailure(error);
    }
  }

  /** The task waiting on a token; once answered, timed out or ended, a token is spent, like in the cloud. */
  private waitingOn(taskToken: string): WaitingTask {
    const task = this.waiting.get(taskToken);
    if (task) return task;
    if (this.spentTokens.has(taskToken)) {
      throw new WorkflowEngineError('TaskTimedOut', 'Task Timed Out: the task was already answered or has ended');
    }
    throw new WorkflowEngineError('InvalidToken', 'Invalid Token: no task was issued this token');
  }

  /** Takes the waiting task off its token and spends the token. */
  private claim(taskToken: string): WaitingTask {
    const task = this.waitingOn(taskToken);
    this.waiting.delete(taskToken);
    this.spentTokens.add(taskToken);
    return task;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) throw new WorkflowEngineError('ValidationException', 'the request is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID() });
  response.end(JSON.stringify(body));
}

async function handle(engine: Engine, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const operation = String(request.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
    if (request.method !== 'POST' || !isOperation(operation)) {
      throw new WorkflowEngineError('UnknownOperationException', `the local engine does not support '${operation}'`);
    }
    let body: unknown;
    try {
      body = JSON.parse((await readBody(request)) || '{}');
    } catch (error) {
      if (error instanceof WorkflowEngineError) throw error;
      throw new WorkflowEngineError('SerializationException', 'the request body is not valid JSON');
    }
    const parsed = requests[operation].safeParse(body);
    if (!parsed.success) throw new WorkflowEngineError('ValidationException', z.prettifyError(parsed.error));
    const run = engine.operations[operation] as (input: typeof parsed.data) => object;
    send(response, 200, run(parsed.data));
  } catch (error) {
    if (error instanceof WorkflowEngineError) {
      send(response, 400, { __type: error.code, message: error.message });
      return;
    }
    engine.log(`workflow engine: internal error: ${error instanceof Error ? error.message : String(error)}`);
    send(response, 500, { __type: 'InternalFailure', message: 'the local workflow engine failed; see its log' });
  }
}

/**
 * Starts the local Step Functions endpoint.
 *
 * @param options - where to listen and how to run the Lambda functions the tasks invoke
 * @returns the running engine; `close()` it to stop the server and abort running executions
 */
export async function startWorkflowEngine(options: WorkflowEngineOptions): Promise<WorkflowEngine> {
  const engine = new Engine(options);
  const server = createServer((request, response) => void handle(engine, request, response));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
  engine.log(`workflow engine listening on ${url}`);
  return {
    url,
    transitions: (executionArn) => engine.transitions(executionArn),
    close: async () => {
      engine.stopAll();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
