import * as z from 'zod/mini';
import type { WorkflowRequest } from '../../workflows/definition.ts';

const deal = { pipeline: z.string().check(z.minLength(1)), dealId: z.string().check(z.minLength(1)) };

/** The payloads the generated state machine sends; typed by `WorkflowRequest`, which workflows/definition.ts builds. */
export const WorkflowTaskSchema: z.ZodMiniType<WorkflowRequest> = z.discriminatedUnion('action', [
  z.object({ action: z.literal('await'), ...deal, stage: z.string(), executionId: z.string(), taskToken: z.string() }),
  z.object({ action: z.literal('request-approval'), ...deal, approvalId: z.string(), taskToken: z.string() }),
  z.object({ action: z.literal('remind-approval'), ...deal, approvalId: z.string(), taskToken: z.string() }),
  z.object({ action: z.literal('expire-approval'), ...deal, approvalId: z.string() }),
  z.object({ action: z.literal('closed'), ...deal, stage: z.string() }),
  z.object({ action: z.literal('continue'), ...deal, executionId: z.string() }),
]);
