import * as z from 'zod/mini';
import { MAX_ID_LENGTH, type StageEvent } from '../core/deal.ts';
import { UnauthorizedError } from '../core/errors.ts';
import { jsonError } from '../http/responses.ts';
import { DEFAULT_PIPELINE, parseJsonBody, requireDeployed, validateBody } from './body.ts';
import { configuredSecret, hmacSha256, safeEqual } from './credentials.ts';
import { acceptedEvent } from './json-answers.ts';
import type { SourceAdapter, WebhookRequest } from './types.ts';

/** How far the signed time may be from our clock, either way. */
const TOLERANCE_SECONDS = 300;

const SIGNATURE_FORMAT =
  'Stageflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(GENERIC_WEBHOOK_SECRET, "<t>.<raw body>")>';

const id = z.string().check(z.minLength(1), z.maxLength(MAX_ID_LENGTH));
const nonEmpty = () => z.string().check(z.minLength(1));

/** The generic webhook body. Unknown keys are refused so that a misspelt field is not lost. */
export const GenericEventSchema = z
  .strictObject({
    eventId: id.check(z.describe('unique per event: a redelivery with the same id is a duplicate')),
    dealId: id.check(z.describe('the deal, unique within its pipeline')),
    pipeline: z._default(nonEmpty(), DEFAULT_PIPELINE).check(z.describe('the pipeline id')),
    stage: z.optional(nonEmpty()).check(z.describe('the stage key to move to; omit it to only update fields')),
    occurredAt: z
      .optional(
        z.iso.datetime({ offset: true, error: 'use an ISO 8601 date-time with a zone, e.g. 2026-11-27T10:00:00Z' }),
      )
      .check(z.describe('when the change happened at the source; defaults to when it was received')),
    dealName: z.optional(nonEmpty()).check(z.describe("the deal's name")),
    owner: z
      .optional(z.strictObject({ email: z.optional(z.email()), name: z.optional(nonEmpty()) }))
      .check(z.describe('the deal owner, who is emailed about stage entries and approvals')),
    fields: z
      ._default(z.record(nonEmpty(), z.unknown()), {})
      .check(z.describe("merged into the deal's fields before the move is judged; null removes a field")),
  })
  .check(z.describe('a generic Stageflow webhook event'));

interface SignatureHeader {
  /** The timestamp as sent: the signature covers this exact text. */
  t: string;
  v1: string[];
}

/** Reads `t=…,v1=…[,v1=…]`; entries of other schemes are ignored, as with later signature versions. */
function readSignatureHeader(header: string): SignatureHeader | undefined {
  const entries = header.split(',').map((entry) => {
    const [key = '', ...value] = entry.split('=');
    return [key.trim(), value.join('=').trim()] as const;
  });
  const times = entries.filter(([key]) => key === 't').map(([, value]) => value);
  const v1 = entries.filter(([key]) => key === 'v1').map(([, value]) => value.toLowerCase());
  const [t] = times;
  if (times.length !== 1 || t === undefined || !/^\d{1,12}$/.test(t)) return undefined;
  if (v1.length === 0 || !v1.every((signature) => /^[0-9a-f]{64}$/.test(signature))) return undefined;
  return { t, v1 };
}

function authenticate(req: WebhookRequest, secret: string): void {
  const header = req.headers['stageflow-signature'];
  if (!header) {
    throw new UnauthorizedError(`the Stageflow-Signature header is missing — send ${SIGNATURE_FORMAT}`);
  }
  const signature = readSignatureHeader(header);
  if (!signature) {
    throw new UnauthorizedError(`the Stageflow-Signature header is malformed — send ${SIGNATURE_FORMAT}`);
  }
  const skew = Math.abs(req.receivedAt.getTime() / 1000 - Number(signature.t));
  if (skew > TOLERANCE_SECONDS) {
    throw new UnauthorizedError(
      `the signature's timestamp t is more than ${TOLERANCE_SECONDS} s from now — sign each request when sending it ` +
        'and check the sender clock',
    );
  }
  const expected = genericSignature(secret, signature.t, req.rawBody);
  // Every candidate is compared, so the time taken does not tell which one matched.
  const matches = signature.v1.map((candidate) => safeEqual(candidate, expected));
  if (!matches.includes(true)) {
    throw new UnauthorizedError(
      'the Stageflow-Signature does not match the body — sign the exact raw body with GENERIC_WEBHOOK_SECRET',
    );
  }
}

/** The `v1` signature of a generic webhook: hex HMAC-SHA256 of `<t>.<raw body>`. */
export function genericSignature(secret: string, t: string | number, rawBody: string): string {
  return hmacSha256(secret, `${t}.${rawBody}`, 'hex');
}

/** The `Stageflow-Signature` header a sender puts on `rawBody`, signed at `t` (Unix seconds; now by default). */
export function genericSignatureHeader(secret: string, rawBody: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${genericSignature(secret, t, rawBody)}`;
}

/** `POST /webhooks/generic`: one signed JSON event. */
export const genericAdapter: SourceAdapter = {
  source: 'generic',
  contentTypes: ['application/json'],

  authenticate(req, ctx) {
    authenticate(req, configuredSecret(ctx.secrets.genericWebhookSecret, 'GENERIC_WEBHOOK_SECRET'));
  },

  parse(req, ctx) {
    const body = validateBody(
      GenericEventSchema,
      parseJsonBody(req.rawBody, 'one generic event object with eventId, dealId and stage or fields'),
      'a generic event',
    );
    requireDeployed(ctx, body.pipeline, 'pipeline');
    const event: StageEvent = {
      source: 'generic',
      eventId: body.eventId,
      pipeline: body.pipeline,
      dealId: body.dealId,
      occurredAt: new Date(body.occurredAt ?? req.receivedAt).toISOString(),
      fields: body.fields,
    };
    if (body.stage !== undefined) event.stage = body.stage;
    if (body.dealName !== undefined) event.dealName = body.dealName;
    if (body.owner !== undefined) event.owner = body.owner;
    return [
      {
        kind: 'event',
        eventId: event.eventId,
        dealId: event.dealId,
        occurredAt: event.occurredAt,
        route: { pipeline: body.pipeline },
        toStageEvent: () => event,
      },
    ];
  },

  respond: acceptedEvent,
  respondError: jsonError,
};
