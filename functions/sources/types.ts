import type { EventResult, Source, StageEvent } from '../core/deal.ts';
import type { RequestError } from '../core/errors.ts';
import type { PipelineConfig } from '../core/pipeline-config.ts';
import type { HttpResult } from '../http/responses.ts';

/** One webhook delivery as the HTTP edge received it, before anything was verified. */
export interface WebhookRequest {
  /** e.g. `POST` */
  method: string;
  /** e.g. `/webhooks/hubspot` */
  path: string;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  /** The query string exactly as received, without `?` (signatures over the URL cover it as sent). */
  rawQuery?: string;
  /** The body exactly as received (utf8): signatures are computed over it. */
  rawBody: string;
  /** The clock that timestamp windows are checked against. */
  receivedAt: Date;
}

/** The credentials each source is verified with. Never echoed in any answer. */
export interface WebhookSecrets {
  genericWebhookSecret: string;
  hubspotClientSecret: string;
  /** `user:password` */
  pipedriveBasicAuth: string;
  salesforceOrgId: string;
  salesforceWebhookToken: string;
}

export interface SourceContext {
  secrets: WebhookSecrets;
  /** The public URL HubSpot calls, without a trailing path (its signature covers the full URL). */
  publicBaseUrl: string;
  /** Whether a pipeline of this id is deployed (parsing needs no more of the configs; routing reads them). */
  isDeployed: (id: string) => boolean;
}

/** What a delivery tells about where an event's deal is in the CRM: what routes it to a Stageflow pipeline. */
export interface CrmRoute {
  /** HubSpot pipeline id, Pipedrive `pipeline_id` or Salesforce `RecordTypeId`, when the delivery names it. */
  crmPipeline?: string;
  /** HubSpot: the `dealstage` value the event names (HubSpot stage ids are unique within an account). */
  stageValue?: string;
  /** The Stageflow pipeline the event names itself (generic events): no CRM pipeline to route by. */
  pipeline?: string;
}

/** One event of a delivery before it is routed to the Stageflow pipeline that manages its deal. */
export interface ParsedEvent {
  kind: 'event';
  /** The event's id at its source (the deduplication key). */
  eventId: string;
  dealId: string;
  /** When it happened at the source (ISO): events are recorded oldest first. */
  occurredAt: string;
  route: CrmRoute;
  /** The canonical event under the config of the pipeline it is routed to (its stage and field maps). */
  toStageEvent(pipeline: string, config: PipelineConfig): StageEvent;
}

/**
 * A merge of CRM deals: `survivor` (the primary, or the new deal the merge made) continues `primary`, and every
 * deal of `merged` ends, merged into `survivor`.
 */
export interface ParsedMerge {
  kind: 'merge';
  source: Exclude<Source, 'generic'>;
  eventId: string;
  occurredAt: string;
  primary: string;
  merged: string[];
  survivor: string;
}

/** The HTTP answer an adapter gives, in the form the HTTP edge returns. */
export type WebhookResponse = HttpResult;

/**
 * One webhook source: verifies a delivery, translates it to canonical {@link StageEvent}s and answers the way the
 * sender expects. Size and content type are checked by the caller first; then `authenticate`, then `parse`.
 */
export interface SourceAdapter {
  source: Source;
  /** Accepted media types, lower-case, without parameters; anything else is a `415`. */
  contentTypes: string[];
  /** Throws `UnauthorizedError` unless the delivery carries valid credentials. */
  authenticate(req: WebhookRequest, ctx: SourceContext): void;
  /**
   * The delivery's events (and merges), oldest first; events of other CRM objects are left out. Throws `BadRequestError` (with a code and issues naming the fields) for a
   * body the source would not send; the Salesforce adapter also throws `UnauthorizedError` for a foreign org,
   * because the org id is inside the body.
   */
  parse(req: WebhookRequest, ctx: SourceContext): (ParsedEvent | ParsedMerge)[];
  /** The answer once every event is recorded, one result per parsed event or merge in parse order. */
  respond(results: EventResult[]): WebhookResponse;
  /** The answer to a refused delivery, with the error's HTTP status. */
  respondError(error: RequestError): WebhookResponse;
}
