import * as z from 'zod/mini';
import type { WorkflowRequest } from '../../workflows/definition.ts';

const deal = { pipeline: z.string().check(z.minLength(1)), dealId: z.string().check(z.minLength(1)) };

const position = z.object({
  ...deal,
  stage: z.string(),
  approvals: z.optional(
    z.array(z.object({ approvalId: z.string(), reminderSeconds: z.number(), expirySeconds: z.number() })),
  ),
  version: z.optional(z.number().check(z.int())),
});

/** The payloads the generated state machine sends; typed by `WorkflowRequest`, which workflows/definition.ts builds. */
export const WorkflowTaskSchema: z.ZodMiniType<WorkflowRequest> = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('await'),
    ...deal,
    stage: z.string(),
    executionId: z.string(),
    taskToken: z.string(),
    position: z.optional(position),
  }),
  z.object({ action: z.literal('request-approval'), ...deal, approvalId: z.string(), taskToken: z.string() }),
  z.object({ action: z.literal('remind-approval'), ...deal, approvalId: z.string(), taskToken: z.string() }),
  z.object({ action: z.literal('expire-approval'), ...deal, approvalId: z.string() }),
  z.object({ action: z.literal('closed'), ...deal, stage: z.string() }),
  z.object({ action: z.literal('continue'), ...deal, executionId: z.string() }),
]);
