import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { expect, vi } from 'vitest';
import { z } from 'zod';
import type { ApprovalTimer, WorkflowPosition, WorkflowRequest } from '../../workflows/definition.ts';

/**
 * Test doubles for running workflows on the local engine: an SDK client pointed at it, and a scripted stand-in for
 * the workflow function that answers task tokens the way deals and approvers would.
 */

export function localSfnClient(endpoint: string): SFNClient {
  return new SFNClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

const deal = { pipeline: z.string().min(1), dealId: z.string().min(1) };
const token = z.string().regex(/^[A-Za-z0-9_-]{64}$/, 'a task token is base64url of 48 random bytes');

/** The payloads the definition sends, checked field by field so a missing or renamed field fails the test. */
const WorkflowRequestSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('await'),
    ...deal,
    stage: z.string(),
    executionId: z.string().startsWith('arn:aws:states:'),
    taskToken: token,
    position: z.strictObject({
      ...deal,
      stage: z.string(),
      approvals: z
        .array(z.strictObject({ approvalId: z.string(), reminderSeconds: z.number(), expirySeconds: z.number() }))
        .optional(),
      version: z.number().int().optional(),
    }),
  }),
  z.strictObject({
    action: z.enum(['request-approval', 'remind-approval']),
    ...deal,
    approvalId: z.string(),
    taskToken: token,
  }),
  z.strictObject({ action: z.literal('expire-approval'), ...deal, approvalId: z.string() }),
  z.strictObject({ action: z.literal('closed'), ...deal, stage: z.string() }),
  z.strictObject({ action: z.literal('continue'), ...deal, executionId: z.string().startsWith('arn:aws:states:') }),
]) satisfies z.ZodType<WorkflowRequest>;

export type ApprovalAnswer = 'approve' | 'reject' | 'ignore';

/** How one deal behaves: the stages it moves to, one per `await`, and how each approval request is answered. */
export interface DealScript {
  moves: { stage: string; approvals?: ApprovalTimer[] }[];
  /** Missing approvals are ignored (left to remind and expire). */
  answers?: Record<string, ApprovalAnswer>;
}

/** Plays the workflow function: records every call and answers task tokens from each deal's script. */
export class ScriptedWorkflowFunction {
  readonly calls: WorkflowRequest[] = [];
  private readonly scripts = new Map<string, DealScript>();

  constructor(private readonly sfn: SFNClient) {}

  script(dealId: string, script: DealScript): void {
    this.scripts.set(dealId, { ...script, moves: [...script.moves] });
  }

  /** Calls for one deal, as `action` or `action:stage|approvalId` strings, in order. */
  trace(dealId: string): string[] {
    return this.calls
      .filter((call) => call.dealId === dealId)
      .map((call) => {
        if ('stage' in call) return `${call.action}:${call.stage}`;
        if ('approvalId' in call) return `${call.action}:${call.approvalId}`;
        return call.action;
      });
  }

  readonly invoke = async (functionName: string, payload: unknown): Promise<unknown> => {
    expect(functionName).toBe(WORKFLOW_FUNCTION_ARN);
    const call = WorkflowRequestSchema.parse(payload);
    this.calls.push(call);
    const script = this.scripts.get(call.dealId);
    if (!script) throw new Error(`no script for deal ${call.dealId}`);
    if (call.action === 'await') {
      const move = script.moves.shift();
      if (move) {
        const position: WorkflowPosition = { pipeline: call.pipeline, dealId: call.dealId, ...move };
        await this.answer(call.taskToken, position);
      }
    }
    if (call.action === 'request-approval') {
      const answer = script.answers?.[call.approvalId] ?? 'ignore';
      if (answer !== 'ignore') await this.answer(call.taskToken, { decision: answer });
    }
    return { ok: true };
  };

  private async answer(taskToken: string, output: unknown): Promise<void> {
    await this.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
  }
}

export const WORKFLOW_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:stageflow-workflow';

/** Waits until the execution has left RUNNING and returns its description. */
export async function finished(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  return vi.waitFor(
    async () => {
      const description = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      expect(description.status).not.toBe('RUNNING');
      return description;
    },
    { timeout: 15_000, interval: 20 },
  );
}
