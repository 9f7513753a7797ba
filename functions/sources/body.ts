import * as z from 'zod/mini';
import { type $ZodError, type $ZodType, toDotPath } from 'zod/v4/core';
import en from 'zod/v4/locales/en.js';
import type { StageEvent } from '../core/deal.ts';
import { BadRequestError, type ErrorIssue } from '../core/errors.ts';
import { storableJson } from './storable-json.ts';
import type { SourceContext, WebhookRequest } from './types.ts';

// The sources validate with zod's small build, which carries no messages of its own: the issues a sender reads are
// zod's English ones.
z.config(en());

/** The pipeline a CRM delivery belongs to when its URL names none. */
export const DEFAULT_PIPELINE = 'default';

/**
 * Parses a JSON body; `expected` names what the sender should send instead. The result can be stored as it came
 * (see {@link storableJson}): limits on depth and key length are refused, inexact numbers kept as their text.
 */
export function parseJsonBody(rawBody: string, expected: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch (error) {
    throw new BadRequestError(
      'INVALID_JSON',
      `the body is not valid JSON — send ${expected}`,
      [{ path: '', message: error instanceof Error ? error.message : String(error) }],
      { cause: error },
    );
  }
  return storableJson(rawBody, parsed);
}

/** Zod's issues as the error body's issues, each naming its field (an unknown key gets one issue of its own). */
export function issuesOf(error: $ZodError, prefix: PropertyKey[] = []): ErrorIssue[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: toDotPath([...path, key]),
        message: 'unknown field — remove it or check its spelling',
      }));
    }
    return [{ path: toDotPath(path), message: issue.message }];
  });
}

/** The refusal of a body whose shape is not what the source sends. */
export function invalidEvent(message: string, issues: ErrorIssue[]): BadRequestError {
  return new BadRequestError('INVALID_EVENT', message, issues);
}

/** Validates a parsed body; `what` names the expected shape in the refusal. */
export function validateBody<Schema extends $ZodType>(schema: Schema, value: unknown, what: string): z.output<Schema> {
  const result = z.safeParse(schema, value);
  if (!result.success) {
    throw invalidEvent(`the body is not ${what} — fix the fields listed in issues`, issuesOf(result.error));
  }
  return result.data;
}

/**
 * The pipeline a CRM delivery names in its URL (`?pipeline=`): optional, a constraint when given (events of deals
 * another pipeline manages are then ignored). An unknown pipeline is refused.
 */
export function pipelineFromQuery(req: WebhookRequest, ctx: SourceContext): string | undefined {
  const pipeline = req.query.pipeline;
  if (pipeline !== undefined) requireDeployed(ctx, pipeline, 'query.pipeline');
  return pipeline;
}

/** Refuses a pipeline that is not deployed; `path` says where the request named it. */
export function requireDeployed(ctx: SourceContext, pipeline: string, path: string): void {
  if (!ctx.isDeployed(pipeline)) {
    throw new BadRequestError(
      'UNKNOWN_PIPELINE',
      `pipeline '${pipeline}' is not deployed — name a pipeline from stage-config/ (or omit it for '${DEFAULT_PIPELINE}')`,
      [{ path, message: `unknown pipeline '${pipeline}'` }],
    );
  }
}

/** The latest instant JavaScript dates can hold, in ms: bounds timestamps before they reach `Date`. */
export const MAX_EPOCH_MS = 8.64e15;

/** How far ahead of our clock an event's time may be before it is taken as wrong: CRM clocks drift, a little. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** The earliest time a CRM change can have happened: no CRM Stageflow reads kept deals before it. */
export const EARLIEST_OCCURRED_AT = '2000-01-01T00:00:00.000Z';

/**
 * Keeps an event's time within what a CRM change can have: one stamped before {@link EARLIEST_OCCURRED_AT} (a
 * `0000-01-01` date, a zero timestamp) is refused with 400, since it would make the deal's days in stage
 * meaningless; one stamped more than {@link MAX_FUTURE_SKEW_MS} after it was received (a CRM clock far off, or a
 * year 275760 date) gets the receive time instead: left as it came, it would be newer than every real event to
 * follow and make them all `stale`, for good.
 */
export function boundOccurredAt(event: StageEvent, receivedAt: Date): StageEvent {
  if (Date.parse(event.occurredAt) < Date.parse(EARLIEST_OCCURRED_AT)) {
    const message =
      `occurredAt ${event.occurredAt} (event ${event.eventId}) is before ${EARLIEST_OCCURRED_AT.slice(0, 10)}, ` +
      'the earliest time a CRM change can have — send the time the change happened';
    throw new BadRequestError('OCCURRED_AT_OUT_OF_RANGE', message, [{ path: 'occurredAt', message }]);
  }
  const ahead = Date.parse(event.occurredAt) - receivedAt.getTime();
  return ahead > MAX_FUTURE_SKEW_MS ? { ...event, occurredAt: receivedAt.toISOString() } : event;
}

/** Oldest first, so that a batch applies in the order things happened; equal times keep the sender's order. */
export function sortByOccurredAt<Event extends { occurredAt: string }>(events: Event[]): Event[] {
  return events.toSorted((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
}
