import { InvalidConfigError } from '../functions/core/errors.ts';
import type { PipelineConfig, StageConfig } from '../functions/core/pipeline-config.ts';

/**
 * The deal workflow as Amazon States Language (JSONPath), generated from a pipeline's stage config. The same
 * definition is deployed by CDK and run by the local workflow engine.
 *
 * One execution follows one deal. Every transition goes through `Route`, so an execution can start at any stage
 * (after a restart, a config migration or the one-year execution limit). An open stage is one callback task that waits
 * for the deal's next applied move; its approvals, if any, run first as a Map of reminder/expiry timers. This keeps
 * a won deal to about two transitions per stage.
 */

/** A JSON value as it appears in a definition. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A payload template: keys ending in `.$` take a JSONPath (`$.` state input, `$$.` context object). */
export type PayloadTemplate = { [key: string]: JsonValue };

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds: number;
  MaxAttempts: number;
  BackoffRate: number;
}

export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  /** `null` keeps the state's input as the catcher's output (the error is dropped). */
  ResultPath?: string | null;
}

/** A state either continues to `Next` or ends the (sub-)workflow. */
export type Transition = { Next: string; End?: never } | { End: true; Next?: never };

export interface TaskFields {
  Type: 'Task';
  Resource: typeof LAMBDA_INVOKE | typeof LAMBDA_INVOKE_CALLBACK;
  Parameters: { FunctionName: string; Payload: PayloadTemplate };
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  ResultPath?: null;
  Retry: Retrier[];
  Catch?: Catcher[];
}

/** A Lambda service-integration task (`lambda:invoke` or `lambda:invoke.waitForTaskToken`). */
export type TaskState = TaskFields & Transition;

export type ChoiceCondition =
  | { Variable: string; StringEquals: string }
  | { Variable: string; IsPresent: boolean }
  | { And: ChoiceCondition[] };

export type ChoiceRule = ChoiceCondition & { Next: string };

export interface ChoiceState {
  Type: 'Choice';
  Choices: ChoiceRule[];
  Default: string;
}

export interface FailState {
  Type: 'Fail';
  Error: string;
  Cause: string;
}

export type MapState = {
  Type: 'Map';
  ItemsPath: string;
  ItemSelector: PayloadTemplate;
  /** 0: every item at once. */
  MaxConcurrency: number;
  ResultPath: null;
  ItemProcessor: {
    ProcessorConfig: { Mode: 'INLINE' };
    StartAt: string;
    States: Record<string, State>;
  };
} & Transition;

export type State = TaskState | ChoiceState | MapState | FailState;

/** The generated state machine, exactly as it is serialised for CreateStateMachine. */
export interface StateMachineDefinition {
  Comment: string;
  StartAt: string;
  States: Record<string, State>;
}

/** The payload each task sends to the workflow function, by action. */
export type WorkflowRequest =
  | {
      action: 'await';
      pipeline: string;
      dealId: string;
      stage: string;
      executionId: string;
      taskToken: string;
      /** The position the stage was entered with (absent from executions of definitions built before it was sent). */
      position?: WorkflowPosition;
    }
  | {
      action: 'request-approval' | 'remind-approval';
      pipeline: string;
      dealId: string;
      approvalId: string;
      taskToken: string;
    }
  | { action: 'expire-approval'; pipeline: string; dealId: string; approvalId: string }
  | { action: 'closed'; pipeline: string; dealId: string; stage: string }
  | { action: 'continue'; pipeline: string; dealId: string; executionId: string };

/** The timers of one approval request, as the workflow runs them. */
export interface ApprovalTimer {
  approvalId: string;
  /** Seconds from the request until the approver is reminded. */
  reminderSeconds: number;
  /** Seconds from the reminder until the request expires. */
  expirySeconds: number;
}

/**
 * An execution's input, and the output a stage's `await` task is answered with (`SendTaskSuccess`): the stage the
 * deal is in now and the approval requests whose timers the workflow must run there (entry or exit approvals).
 */
export interface WorkflowPosition {
  pipeline: string;
  dealId: string;
  stage: string;
  approvals?: ApprovalTimer[];
  /**
   * The deal's version the position was taken at, given only when the deal then had nothing for its stage to run
   * (open, no pending approval of the visit): the stage task then parks its token on condition that the deal is
   * still at this version, without reading it.
   */
  version?: number;
}

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
export const LAMBDA_INVOKE_CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** How long a stage waits for the deal's next move before the execution hands over to a fresh one (30 days). */
export const STAGE_WAIT_SECONDS = 30 * 24 * 60 * 60;

/** Step Functions' limit on state names. */
const MAX_STATE_NAME_LENGTH = 80;

/** The fixed state names; stage states are named after the stage key. */
export const STATE_NAMES = {
  route: 'Route',
  continueAsNew: 'ContinueAsNew',
  unknownStage: 'UnknownStage',
} as const;

/** The states that run one stage's approval timers. */
export function approvalStateNames(stageKey: string) {
  return {
    map: `${stageKey}.Approvals`,
    request: `${stageKey}.RequestApproval`,
    remind: `${stageKey}.RemindApprover`,
    expire: `${stageKey}.ExpireApproval`,
  };
}

/** The name of a pipeline's state machine, in the cloud and locally. */
export function stateMachineName(pipeline: string): string {
  return `stageflow-${pipeline}`;
}

/** Transient Lambda service errors, retried as AWS recommends for every Lambda task. */
const LAMBDA_RETRY: Retrier = {
  ErrorEquals: [
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.TooManyRequestsException',
  ],
  IntervalSeconds: 1,
  MaxAttempts: 3,
  BackoffRate: 2,
};

const DEAL = { 'pipeline.$': '$.pipeline', 'dealId.$': '$.dealId' } as const;
const TASK_TOKEN = { 'taskToken.$': '$$.Task.Token' } as const;

function canHaveApprovals(stage: StageConfig): boolean {
  return stage.entryApprovals.length > 0 || stage.exitApprovals.length > 0;
}

type TaskOptions = Pick<TaskFields, 'TimeoutSeconds' | 'TimeoutSecondsPath' | 'ResultPath' | 'Catch'> & Transition;

function lambdaTask(
  resource: TaskFields['Resource'],
  functionArn: string,
  payload: PayloadTemplate,
  options: TaskOptions,
): TaskState {
  return {
    Type: 'Task',
    Resource: resource,
    Parameters: { FunctionName: functionArn, Payload: payload },
    Retry: [LAMBDA_RETRY],
    ...options,
  };
}

function approvalStates(stageKey: string, functionArn: string): MapState {
  const names = approvalStateNames(stageKey);
  const approval = { ...DEAL, 'approvalId.$': '$.approval.approvalId' };
  const timedOut = (next: string): Catcher[] => [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: next }];
  return {
    Type: 'Map',
    ItemsPath: '$.approvals',
    ItemSelector: { ...DEAL, 'approval.$': '$$.Map.Item.Value' },
    MaxConcurrency: 0,
    ResultPath: null,
    Next: stageKey,
    ItemProcessor: {
      ProcessorConfig: { Mode: 'INLINE' },
      StartAt: names.request,
      States: {
        [names.request]: lambdaTask(
          LAMBDA_INVOKE_CALLBACK,
          functionArn,
          { action: 'request-approval', ...approval, ...TASK_TOKEN },
          { TimeoutSecondsPath: '$.approval.reminderSeconds', Catch: timedOut(names.remind), End: true },
        ),
        [names.remind]: lambdaTask(
          LAMBDA_INVOKE_CALLBACK,
          functionArn,
          { action: 'remind-approval', ...approval, ...TASK_TOKEN },
          { TimeoutSecondsPath: '$.approval.expirySeconds', Catch: timedOut(names.expire), End: true },
        ),
        [names.expire]: lambdaTask(
          LAMBDA_INVOKE,
          functionArn,
          { action: 'expire-approval', ...approval },
          { ResultPath: null, End: true },
        ),
      },
    },
  };
}

function stageState(stage: StageConfig, functionArn: string): TaskState {
  if (stage.closed) {
    return lambdaTask(
      LAMBDA_INVOKE,
      functionArn,
      { action: 'closed', ...DEAL, stage: stage.key },
      { ResultPath: null, End: true },
    );
  }
  return lambdaTask(
    LAMBDA_INVOKE_CALLBACK,
    functionArn,
    {
      action: 'await',
      ...DEAL,
      stage: stage.key,
      'executionId.$': '$$.Execution.Id',
      ...TASK_TOKEN,
      // The whole input: a path to a field the input may lack would fail the state.
      'position.$': '$',
    },
    {
      TimeoutSeconds: STAGE_WAIT_SECONDS,
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: null, Next: STATE_NAMES.continueAsNew }],
      Next: STATE_NAMES.route,
    },
  );
}

function routeState(stages: StageConfig[]): ChoiceState {
  const isStage = (key: string) => ({ Variable: '$.stage', StringEquals: key });
  return {
    Type: 'Choice',
    Choices: [
      ...stages.filter(canHaveApprovals).map((stage) => ({
        And: [isStage(stage.key), { Variable: '$.approvals[0]', IsPresent: true }],
        Next: approvalStateNames(stage.key).map,
      })),
      ...stages.map((stage) => ({ ...isStage(stage.key), Next: stage.key })),
    ],
    Default: STATE_NAMES.unknownStage,
  };
}

function assertStateNamesFit(config: PipelineConfig): void {
  const longest = Math.max(...Object.values(approvalStateNames('')).map((name) => name.length));
  const issues = config.stages.flatMap((stage, index) =>
    stage.key.length + longest > MAX_STATE_NAME_LENGTH
      ? [{ path: `stages[${index}].key`, message: `stage key '${stage.key}' is too long for a state name` }]
      : [],
  );
  if (issues.length > 0) {
    throw new InvalidConfigError(
      `stage keys become Step Functions state names: keep them at most ${MAX_STATE_NAME_LENGTH - longest} characters`,
      issues,
    );
  }
}

/**
 * Builds the state machine for one pipeline.
 *
 * @param config - the parsed stage config
 * @param workflowFunctionArn - the workflow function every task invokes (its ARN or alias ARN in the cloud)
 * @returns the definition; serialise it with `JSON.stringify` for CreateStateMachine or CDK
 * @throws InvalidConfigError when a stage key is too long to name its states
 */
export function buildStateMachineDefinition(
  config: PipelineConfig,
  workflowFunctionArn: string,
): StateMachineDefinition {
  assertStateNamesFit(config);
  const states: Record<string, State> = { [STATE_NAMES.route]: routeState(config.stages) };
  for (const stage of config.stages) {
    if (canHaveApprovals(stage)) {
      states[approvalStateNames(stage.key).map] = approvalStates(stage.key, workflowFunctionArn);
    }
    states[stage.key] = stageState(stage, workflowFunctionArn);
  }
  if (config.stages.some((stage) => !stage.closed)) {
    states[STATE_NAMES.continueAsNew] = lambdaTask(
      LAMBDA_INVOKE,
      workflowFunctionArn,
      { action: 'continue', ...DEAL, 'executionId.$': '$$.Execution.Id' },
      { ResultPath: null, End: true },
    );
  }
  states[STATE_NAMES.unknownStage] = {
    Type: 'Fail',
    Error: 'UnknownStage',
    Cause: `the execution input names a stage that pipeline '${config.pipeline}' does not have`,
  };
  return {
    Comment: `Stageflow deal workflow for pipeline '${config.pipeline}' (${config.name})`,
    StartAt: STATE_NAMES.route,
    States: states,
  };
}
