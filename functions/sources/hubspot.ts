import * as z from 'zod/mini';
import { MAX_ID_LENGTH, type StageEvent } from '../core/deal.ts';
import { type ErrorIssue, UnauthorizedError } from '../core/errors.ts';
import type { PipelineConfig } from '../core/pipeline-config.ts';
import { jsonError } from '../http/responses.ts';
import { invalidEvent, issuesOf, MAX_EPOCH_MS, parseJsonBody, pipelineFromQuery } from './body.ts';
import { configuredSecret, hmacSha256, safeEqual } from './credentials.ts';
import { mapStage, renameFields } from './crm-maps.ts';
import { acceptedBatch } from './json-answers.ts';
import { MAX_KEY_LENGTH } from './storable-json.ts';
import type { ParsedEvent, ParsedMerge, SourceAdapter, WebhookRequest } from './types.ts';

/** The route HubSpot calls; its signature covers the full URL, so the URL is rebuilt from the public base URL. */
const HUBSPOT_ROUTE = '/webhooks/hubspot';

/** HubSpot's documented replay window; a timestamp further than this from our clock, either way, is refused. */
const TOLERANCE_MS = 5 * 60 * 1000;

/** The deal property whose value is the stage, the one that names the deal, and the one naming its CRM pipeline. */
const STAGE_PROPERTY = 'dealstage';
const NAME_PROPERTY = 'dealname';
const PIPELINE_PROPERTY = 'pipeline';

/** HubSpot's ids: numbers in practice, digit strings tolerated. */
const hubspotId = z.union([
  z.number().check(z.int(), z.nonnegative()),
  z.string().check(z.maxLength(MAX_ID_LENGTH), z.regex(/^\d+$/, 'expected digits')),
]);

const envelope = {
  eventId: hubspotId,
  subscriptionId: hubspotId,
  portalId: hubspotId,
  occurredAt: z
    .number()
    .check(z.int(), z.nonnegative(), z.maximum(MAX_EPOCH_MS), z.describe('when the change happened, in epoch ms')),
  objectId: hubspotId.check(z.describe('the deal id')),
  attemptNumber: z.optional(z.number().check(z.int(), z.nonnegative())),
};

/** The deal events of HubSpot webhooks v3 this source understands; other fields HubSpot adds are ignored. */
const HubSpotDealEventSchema = z.discriminatedUnion('subscriptionType', [
  z.looseObject({ ...envelope, subscriptionType: z.literal('deal.creation') }),
  z.looseObject({ ...envelope, subscriptionType: z.literal('deal.deletion') }),
  z.looseObject({ ...envelope, subscriptionType: z.literal('deal.restore') }),
  z.looseObject({
    ...envelope,
    subscriptionType: z.literal('deal.merge'),
    objectId: z.optional(hubspotId),
    primaryObjectId: hubspotId.check(z.describe('the deal given priority in the merge')),
    mergedObjectIds: z.array(hubspotId).check(z.maxLength(100), z.describe('the other deals of the merge')),
    newObjectId: z.optional(hubspotId).check(z.describe('the deal the merge made, when it made a new one')),
  }),
  z.looseObject({
    ...envelope,
    subscriptionType: z.literal('deal.propertyChange'),
    propertyName: z.string().check(
      z.minLength(1),
      z.maxLength(MAX_KEY_LENGTH, `a property name of at most ${MAX_KEY_LENGTH} characters`),
      z.refine((name) => name !== '__proto__', 'reserved name: rename the property'),
    ),
    propertyValue: z.string(),
  }),
]);
/** What every event of a batch is read for first: its type, and which object it is about. */
const EventHeadSchema = z.looseObject({
  subscriptionType: z.string().check(z.minLength(1)),
  objectTypeId: z.optional(z.unknown()),
});
type HubSpotDealEvent = z.output<typeof HubSpotDealEventSchema>;
type HubSpotMerge = Extract<HubSpotDealEvent, { subscriptionType: 'deal.merge' }>;
type HubSpotRecordEvent = Exclude<HubSpotDealEvent, HubSpotMerge>;

const SUPPORTED_TYPES: ReadonlySet<unknown> = new Set(HubSpotDealEventSchema._zod.propValues.subscriptionType);

/** New-platform apps send `object.<action>` events naming the object type; `0-3` is the deal. */
const DEAL_OBJECT_TYPE = '0-3';

/** The legacy deal subscription type an event stands for (`object.creation` of `0-3` → `deal.creation`), if any. */
function dealSubscriptionType(subscriptionType: string, objectTypeId: unknown): string | undefined {
  const [family, action] = subscriptionType.split('.', 2);
  if (family === 'object' && String(objectTypeId) !== DEAL_OBJECT_TYPE) return undefined;
  const type = family === 'object' ? `deal.${action}` : subscriptionType;
  return SUPPORTED_TYPES.has(type) ? type : undefined;
}

/**
 * The URL HubSpot signed: the public route plus the query string as received (HubSpot signs the URI it called, so
 * `%20`, `+` and `~` must stay as they were sent), with the characters HubSpot decodes before signing decoded. A
 * request without its raw query (tests, other hosts) has it rebuilt from the parsed parameters.
 */
function hubspotSignedUrl(publicBaseUrl: string, req: WebhookRequest): string {
  const query =
    req.rawQuery ??
    new URLSearchParams(
      Object.entries(req.query).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ).toString();
  const url = `${publicBaseUrl.replace(/\/+$/, '')}${HUBSPOT_ROUTE}${query ? `?${query}` : ''}`;
  return url.replace(/%(?:3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (escaped) => decodeURIComponent(escaped));
}

function authenticate(req: WebhookRequest, secret: string, publicBaseUrl: string): void {
  const signature = req.headers['x-hubspot-signature-v3'];
  const timestamp = req.headers['x-hubspot-request-timestamp'];
  if (!signature || !timestamp) {
    throw new UnauthorizedError(
      'X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required — deliver HubSpot webhooks v3 here',
    );
  }
  if (!/^\d{1,16}$/.test(timestamp) || Math.abs(req.receivedAt.getTime() - Number(timestamp)) > TOLERANCE_MS) {
    throw new UnauthorizedError(
      'X-HubSpot-Request-Timestamp is not within 5 minutes of now — HubSpot signs each delivery when sending it; ' +
        'check this server clock',
    );
  }
  const url = hubspotSignedUrl(publicBaseUrl, req);
  const expected = hmacSha256(secret, `${req.method.toUpperCase()}${url}${req.rawBody}${timestamp}`, 'base64');
  if (!safeEqual(signature, expected)) {
    throw new UnauthorizedError(
      'X-HubSpot-Signature-v3 does not match — set HUBSPOT_CLIENT_SECRET to the app client secret and ' +
        `PUBLIC_BASE_URL so that the app target URL is <PUBLIC_BASE_URL>${HUBSPOT_ROUTE}`,
    );
  }
}

/**
 * The headers HubSpot puts on a delivery of `rawBody` to `url`, signed now: the sender's side of HubSpot's
 * v3 signature (the demo plays HubSpot with it).
 */
export function hubspotSignatureHeaders(secret: string, url: string, rawBody: string): Record<string, string> {
  const timestamp = String(Date.now());
  return {
    'x-hubspot-signature-v3': hmacSha256(secret, `POST${url}${rawBody}${timestamp}`, 'base64'),
    'x-hubspot-request-timestamp': timestamp,
  };
}

/**
 * The deal events of a batch, validated; events of other objects (contacts, companies, …) are left out, and a batch
 * of those only has none: it is answered 2xx with nothing recorded, because HubSpot retries any other answer.
 */
function dealEvents(body: unknown): HubSpotDealEvent[] {
  if (!Array.isArray(body) || body.length === 0) {
    throw invalidEvent('the body is not a HubSpot webhooks v3 batch — send a non-empty JSON array of events', [
      { path: '', message: 'expected a non-empty array of events' },
    ]);
  }
  const events: HubSpotDealEvent[] = [];
  const issues: ErrorIssue[] = [];
  body.forEach((item: unknown, index) => {
    const head = EventHeadSchema.safeParse(item);
    if (!head.success) {
      issues.push(...issuesOf(head.error, [index]));
      return;
    }
    const subscriptionType = dealSubscriptionType(head.data.subscriptionType, head.data.objectTypeId);
    if (subscriptionType === undefined) return;
    const event = HubSpotDealEventSchema.safeParse({ ...head.data, subscriptionType });
    if (event.success) events.push(event.data);
    else issues.push(...issuesOf(event.error, [index]));
  });
  if (issues.length > 0) {
    throw invalidEvent('the body is not a HubSpot webhooks v3 batch — fix the events listed in issues', issues);
  }
  return events;
}

/** HubSpot's eventId alone is not unique: with the portal, subscription and time it is. */
function eventIdOf(event: HubSpotDealEvent): string {
  return `${event.portalId}:${event.subscriptionId}:${event.eventId}:${event.occurredAt}`;
}

function toStageEvent(event: HubSpotRecordEvent, pipeline: string, config: PipelineConfig): StageEvent {
  const crm = config.crm.hubspot;
  const stageEvent: StageEvent = {
    source: 'hubspot',
    eventId: eventIdOf(event),
    pipeline,
    dealId: String(event.objectId),
    occurredAt: new Date(event.occurredAt).toISOString(),
    fields: {},
    crm: { portalId: String(event.portalId) },
  };
  const origin = hubspotOrigin(event);
  if (origin) stageEvent.origin = origin;
  switch (event.subscriptionType) {
    case 'deal.creation':
      break;
    case 'deal.deletion':
      stageEvent.lifecycle = 'deleted';
      break;
    case 'deal.restore':
      stageEvent.lifecycle = 'restored';
      break;
    case 'deal.propertyChange':
      if (event.propertyName === PIPELINE_PROPERTY) {
        // The CRM pipeline routes the event and is kept on the deal (its CRM state), not as a field.
      } else if (event.propertyName === STAGE_PROPERTY) {
        stageEvent.stage = mapStage('hubspot', crm?.stages, event.propertyValue);
      } else if (event.propertyName === NAME_PROPERTY) {
        stageEvent.dealName = event.propertyValue;
      } else {
        stageEvent.fields = renameFields({ [event.propertyName]: event.propertyValue }, crm?.fields);
      }
      break;
  }
  return stageEvent;
}

/**
 * `POST /webhooks/hubspot[?pipeline=<id>]`: a HubSpot webhooks v3 batch, legacy `deal.*` events or
 * new-platform `object.*` events of deals. Events of other objects are skipped, because HubSpot retries a whole batch
 * on any error; a batch with none of a deal is answered with no results.
 */
export const hubspotAdapter: SourceAdapter = {
  source: 'hubspot',
  contentTypes: ['application/json'],

  authenticate(req, ctx) {
    authenticate(req, configuredSecret(ctx.secrets.hubspotClientSecret, 'HUBSPOT_CLIENT_SECRET'), ctx.publicBaseUrl);
  },

  parse(req, ctx) {
    pipelineFromQuery(req, ctx);
    const events = dealEvents(parseJsonBody(req.rawBody, 'a HubSpot webhooks v3 batch (a JSON array of events)'));
    // HubSpot sends each property of one save as its own event, at the same time and in no set order: the field
    // changes go first, so that a move to closedlost finds the closed_lost_reason saved with it.
    return events
      .toSorted((a, b) => a.occurredAt - b.occurredAt || Number(isStageChange(a)) - Number(isStageChange(b)))
      .map((event) => (event.subscriptionType === 'deal.merge' ? toMerge(event) : toParsed(event, events)));
  },

  respond: acceptedBatch,
  respondError: jsonError,
};

function isStageChange(event: HubSpotDealEvent): boolean {
  return event.subscriptionType === 'deal.propertyChange' && event.propertyName === STAGE_PROPERTY;
}

/**
 * The CRM pipeline the batch says the deal is in at the event's time: the newest `pipeline` property change of the
 * deal at or before it, else the first one after it (a deal's creation comes with the pipeline it was created in).
 */
function pipelineInBatch(event: HubSpotRecordEvent, batch: HubSpotDealEvent[]): string | undefined {
  const named = batch
    .filter(
      (other): other is Extract<HubSpotDealEvent, { subscriptionType: 'deal.propertyChange' }> =>
        other.subscriptionType === 'deal.propertyChange' &&
        other.propertyName === PIPELINE_PROPERTY &&
        String(other.objectId) === String(event.objectId),
    )
    .toSorted((a, b) => a.occurredAt - b.occurredAt);
  const before = named.filter((other) => other.occurredAt <= event.occurredAt).at(-1);
  return (before ?? named[0])?.propertyValue;
}

function toParsed(event: HubSpotRecordEvent, batch: HubSpotDealEvent[]): ParsedEvent {
  const crmPipeline = pipelineInBatch(event, batch);
  return {
    kind: 'event',
    eventId: eventIdOf(event),
    dealId: String(event.objectId),
    occurredAt: new Date(event.occurredAt).toISOString(),
    route: {
      ...(crmPipeline === undefined ? {} : { crmPipeline }),
      ...(isStageChange(event) && event.subscriptionType === 'deal.propertyChange'
        ? { stageValue: event.propertyValue }
        : {}),
    },
    toStageEvent: (pipeline, config) => toStageEvent(event, pipeline, config),
  };
}

/** A merge: the new deal it made survives, else the primary; the others are merged into it. */
function toMerge(event: HubSpotMerge): ParsedMerge {
  const primary = String(event.primaryObjectId);
  const survivor = event.newObjectId === undefined ? primary : String(event.newObjectId);
  const merged = [...new Set([primary, ...event.mergedObjectIds.map(String)])].filter((id) => id !== survivor);
  return {
    kind: 'merge',
    source: 'hubspot',
    eventId: eventIdOf(event),
    occurredAt: new Date(event.occurredAt).toISOString(),
    primary,
    merged,
    survivor,
  };
}

/** HubSpot's marker of who made the change (`changeSource`, e.g. `INTEGRATION`, with `sourceId`): it tells Stageflow's own write-back from a person's move. */
function hubspotOrigin(event: Record<string, unknown>): string | undefined {
  const changeSource = typeof event.changeSource === 'string' ? event.changeSource.slice(0, 64) : undefined;
  const sourceId = typeof event.sourceId === 'string' ? event.sourceId.slice(0, 128) : undefined;
  if (!changeSource) return undefined;
  return sourceId ? `${changeSource}:${sourceId}` : changeSource;
}
