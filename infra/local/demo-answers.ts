import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { OUTCOMES } from '../../functions/core/deal.ts';
import type { ApiClient, ApiResponse } from './api-client.ts';
import { STORY_PIPELINE } from './default-story.ts';

/** What `npm run demo` reads from the stack, checked against what a working stack answers, and how it prints it. */

const WAIT_MS = 30_000;

/** The demo could not finish; the message says what went wrong and what to do about it. */
export class DemoError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DemoError';
  }
}

const ReasonSchema = z.looseObject({ code: z.string(), message: z.string(), missing: z.array(z.string()).optional() });

export const WebhookAnswerSchema = z.object({
  outcome: z.enum(OUTCOMES),
  dealId: z.string(),
  stage: z.string().nullable(),
  reasons: z.array(ReasonSchema),
});
export type WebhookAnswer = z.infer<typeof WebhookAnswerSchema>;

export const DealSchema = z.object({
  dealId: z.string(),
  stage: z.string(),
  status: z.enum(['open', 'won', 'lost']),
  approvals: z.array(
    z.object({
      role: z.string(),
      status: z.string(),
      decidedBy: z.string().nullable(),
      decidedAt: z.string().nullable(),
      comment: z.string().nullable(),
      decide: z.enum(['any', 'all']).nullable().optional(),
      asked: z.array(z.object({ email: z.string(), status: z.string() })).optional(),
    }),
  ),
  history: z.array(
    z.object({
      at: z.string(),
      type: z.string(),
      from: z.string().nullable(),
      to: z.string().nullable(),
      outcome: z.string(),
      eventId: z.string().nullable(),
      source: z.string().nullable().optional(),
      crm: z.string().optional(),
      status: z.number().optional(),
      reasons: z.array(ReasonSchema),
      approval: z.object({ role: z.string(), status: z.string() }).optional(),
    }),
  ),
});
export type DealView = z.infer<typeof DealSchema>;

export const StageGuidanceSchema = z.object({
  stages: z.array(z.object({ key: z.string(), name: z.string(), definition: z.string() })),
});

/** The answer's body, checked against `schema`. */
export function parsed<T>(response: ApiResponse, schema: z.ZodType<T>, what: string): T {
  if (response.body === undefined) {
    throw new DemoError(
      `${what} answered ${response.status} with a body that is not JSON: ${response.text.slice(0, 200)}`,
    );
  }
  const result = schema.safeParse(response.body);
  if (!result.success) {
    throw new DemoError(
      `${what} answered ${response.status} with ${response.text.slice(0, 300)}\n${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

/** The answer to a webhook: 202 with its decision; a refused signature says which secrets to set. */
export function webhookAnswer<T>(response: ApiResponse, path: string, schema: z.ZodType<T>): T {
  if (response.status === 401) {
    throw new DemoError(
      `the stack refused the signature of POST ${path} (401) — run the demo with the secrets the stack uses ` +
        '(GENERIC_WEBHOOK_SECRET, HUBSPOT_CLIENT_SECRET)',
    );
  }
  if (response.status !== 202) {
    throw new DemoError(`POST ${path} answered ${response.status}: ${response.text.slice(0, 300)}`);
  }
  return parsed(response, schema, `POST ${path}`);
}

/** `GET /deals/{id}`: the deal, checked. */
export async function getDeal(client: ApiClient, dealId: string): Promise<DealView> {
  const response = await client.getDeal(dealId, STORY_PIPELINE);
  if (response.status !== 200) throw new DemoError(`GET /deals/${dealId} answered ${response.status}`);
  return parsed(response, DealSchema, `GET /deals/${dealId}`);
}

/** Polls `probe` until it has a value; gives up after 30 s with a sentence naming `what`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new DemoError(`gave up after ${WAIT_MS / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

/** Each reason as a line: its code, its sentence and the fields it misses. */
export function describeReasons(reasons: z.infer<typeof ReasonSchema>[]): string[] {
  return reasons.map((r) => `${r.code}: ${r.message}${r.missing ? ` (missing: ${r.missing.join(', ')})` : ''}`);
}

/** An ISO time as the demo prints it: `2026-12-03 22:15:31.123 UTC`. */
export function clock(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d{3})?Z$/, (_, ms: string | undefined) => `${ms ?? ''} UTC`);
}

/** What a history entry did: a move from → to, or which approval ended and how. */
function change(entry: DealView['history'][number]): string {
  return entry.approval
    ? `${entry.approval.role} ${entry.approval.status}`
    : `${entry.from ?? '—'} → ${entry.to ?? '—'}`;
}

/** The deal's history as a table, one row per entry. */
export function timeline(deal: DealView): string[] {
  const rows = deal.history.map((h) => [
    clock(h.at),
    h.type,
    change(h),
    h.outcome,
    // A write-back names its CRM and the HTTP status it answered.
    [h.source ?? h.crm, h.status === undefined ? h.eventId : `HTTP ${h.status}`].filter(Boolean).join(' ') || '—',
    h.reasons.map((r) => r.code).join(', '),
  ]);
  const header = ['time', 'type', 'change', 'outcome', 'source / event', 'reasons'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}`;
  return [line(header), ...rows.map(line)];
}
