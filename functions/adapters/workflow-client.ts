import { createHash } from 'node:crypto';
import {
  DescribeStateMachineCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { WorkflowPosition } from '../../workflows/definition.ts';

/** Errors meaning "this task token is no longer waiting": already answered, timed out, or from a finished execution. */
const SPENT_TOKEN_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);
/** Errors meaning "this execution is not running any more" (or never existed here). */
const ENDED_EXECUTION_ERRORS = new Set(['ExecutionDoesNotExist', 'ExecutionNotRunning']);

/**
 * Step Functions, as the deal workflow uses it: one execution per deal (named after the deal and its generation, so a
 * retried start is idempotent), and task tokens answered once.
 */
export class WorkflowClient {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArns: Record<string, string>,
  ) {}

  /**
   * Starts generation `generation` of the deal's execution at `position`; an execution of that name that already
   * exists counts as started.
   */
  async start(position: WorkflowPosition, generation: number): Promise<void> {
    const stateMachineArn = this.stateMachineArns[position.pipeline];
    if (!stateMachineArn) throw new Error(`no state machine is configured for pipeline '${position.pipeline}'`);
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn,
          name: executionName(position.pipeline, position.dealId, generation),
          input: JSON.stringify(position),
        }),
      );
    } catch (error) {
      if (!(error instanceof Error && error.name === 'ExecutionAlreadyExists')) throw error;
    }
  }

  /**
   * Stops a deal's execution that a fresh one replaces (a config migration, approvals no running execution can pick
   * up); one that already ended or is unknown counts as stopped.
   */
  async stop(executionArn: string, cause: string): Promise<void> {
    try {
      await this.sfn.send(new StopExecutionCommand({ executionArn, error: 'Stageflow.Replaced', cause }));
    } catch (error) {
      if (!(error instanceof Error && ENDED_EXECUTION_ERRORS.has(error.name))) throw error;
    }
  }

  /** Proves every configured state machine exists and answers (the health check). */
  async describeStateMachines(): Promise<void> {
    await Promise.all(
      Object.values(this.stateMachineArns).map((arn) =>
        this.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn.replace(/:live$/, '') })),
      ),
    );
  }

  /** Answers a waiting task; returns false when the token was already spent (a repeated hand-off). */
  async complete(taskToken: string, output: unknown): Promise<boolean> {
    return this.spend(() =>
      this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? {}) })),
    );
  }

  private async spend(send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (error) {
      if (error instanceof Error && SPENT_TOKEN_ERRORS.has(error.name)) return false;
      throw error;
    }
  }
}

/** The generation an execution of {@link executionName}'s naming runs (from its name or ARN), or null for another name. */
export function generationOfExecution(execution: string): number | null {
  const match = /-g(\d+)$/.exec(execution);
  return match ? Number(match[1]) : null;
}

/**
 * A valid execution name (≤ 80 characters of [A-Za-z0-9_-]) that stays unique for any deal id: the readable part is
 * sanitised and truncated, and a hash of the exact ids keeps two different deals apart.
 */
export function executionName(pipeline: string, dealId: string, generation: number): string {
  const hash = createHash('sha256').update(`${pipeline}\u0000${dealId}`).digest('hex').slice(0, 12);
  const readable = `${pipeline}-${dealId}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 56);
  return `${readable}-${hash}-g${generation}`;
}
