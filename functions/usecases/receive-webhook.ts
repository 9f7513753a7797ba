import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadSecrets } from '../adapters/secrets.ts';
import { type EventResult, SOURCES, type Source } from '../core/deal.ts';
import { unmanagedPipeline } from '../core/decide/reasons.ts';
import { NotFoundError, PayloadTooLargeError, RequestError, UnsupportedMediaTypeError } from '../core/errors.ts';
import { type HttpResult, rawBody } from '../http/responses.ts';
import { boundOccurredAt } from '../sources/body.ts';
import type { ParsedEvent, SourceAdapter, WebhookRequest } from '../sources/types.ts';
import { leavePipeline, recordMerge } from './crm-lifecycle.ts';
import { recordEvent } from './record-event.ts';
import { routeEvent } from './route-event.ts';
import type { Services } from './services.ts';

/** Bodies over 256 KiB are refused. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

/** The webhook adapters one function serves, by the source name in the route `/webhooks/<source>`. */
export type ServedSources = Partial<Record<Source, SourceAdapter>>;

/**
 * One webhook delivery: size, content type, authentication and parsing (each refusal changes nothing), then every
 * event recorded in order, answered the way the sender expects. A function serves the sources it is given (each
 * deploys with its own parser only); any other source answers 404.
 */
export async function receiveWebhook(
  request: APIGatewayProxyEventV2,
  services: Services,
  served: ServedSources,
): Promise<HttpResult> {
  // A CRM's own route names the source literally (`/webhooks/hubspot`); the generic route as `{source}`.
  const source = request.pathParameters?.source ?? request.rawPath.split('/').at(-1);
  const adapter = isSource(source) ? served[source] : undefined;
  if (!isSource(source) || !adapter) {
    throw new NotFoundError(`no webhook source '${source}' — use one of: ${SOURCES.join(', ')}`);
  }
  try {
    const webhook = toWebhookRequest(request, services);
    checkEnvelope(webhook, adapter);
    // Parsing needs only which pipelines are deployed; each config is read with the first deal read in it.
    const context = {
      secrets: toWebhookSecrets(await loadSecrets()),
      publicBaseUrl: services.publicBaseUrl,
      isDeployed: (id: string) => services.pipelines.isDeployed(id),
    };
    adapter.authenticate(webhook, context);
    const results: EventResult[] = [];
    for (const parsed of adapter.parse(webhook, context)) {
      results.push(
        parsed.kind === 'merge'
          ? await recordMerge(parsed, services)
          : await routeAndRecord(parsed, source, webhook, services),
      );
    }
    return adapter.respond(results);
  } catch (error) {
    if (error instanceof RequestError) return adapter.respondError(error);
    throw error;
  }
}

/**
 * Records one event in the Stageflow pipeline that manages its deal's CRM pipeline; first, the deal leaves the
 * pipelines that no longer manage it. An event no pipeline manages is answered `ignored` and records nothing.
 */
async function routeAndRecord(
  parsed: ParsedEvent,
  source: Source,
  webhook: WebhookRequest,
  services: Services,
): Promise<EventResult> {
  const constraint = webhook.query.pipeline;
  const routing = await routeEvent(parsed, source, constraint, services);
  const { eventId, dealId, occurredAt } = parsed;
  if (source !== 'generic') {
    for (const stored of routing.leaving)
      await leavePipeline(services, stored, routing.crmPipeline, { eventId, source });
  }
  if (routing.pipeline === null) {
    const reasons = [unmanagedPipeline(routing.crmPipeline, constraint)];
    const ignored: EventResult = { outcome: 'ignored', dealId, stage: null, reasons };
    services.telemetry.eventRecorded({ source, eventId, pipeline: '', dealId, occurredAt, fields: {} }, ignored);
    return ignored;
  }
  // The deal as routing read it, else read now with its pipeline's config (one call on a cold start).
  const read = routing.read?.has(routing.pipeline)
    ? routing.read.get(routing.pipeline)
    : await services.pipelines.getDeal(routing.pipeline, dealId);
  const { config } = await services.pipelines.current(routing.pipeline);
  const event = parsed.toStageEvent(routing.pipeline, config);
  if (routing.crmPipeline !== null) event.crm = { ...event.crm, pipeline: routing.crmPipeline };
  if (routing.arrivedFrom !== undefined) event.arrivedFrom = routing.arrivedFrom;
  return recordEvent(boundOccurredAt(event, webhook.receivedAt), services, read);
}

function isSource(value: string | undefined): value is Source {
  return (SOURCES as readonly string[]).includes(value ?? '');
}

function toWebhookRequest(request: APIGatewayProxyEventV2, services: Services): WebhookRequest {
  return {
    method: request.requestContext.http.method,
    path: request.rawPath,
    headers: Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    query: request.queryStringParameters ?? {},
    rawQuery: request.rawQueryString ?? '',
    rawBody: rawBody(request),
    receivedAt: services.clock(),
  };
}

function checkEnvelope(webhook: WebhookRequest, adapter: SourceAdapter): void {
  const bytes = Buffer.byteLength(webhook.rawBody, 'utf8');
  if (bytes > MAX_WEBHOOK_BYTES) {
    throw new PayloadTooLargeError(
      `the body is ${bytes} bytes; the limit is ${MAX_WEBHOOK_BYTES} bytes (256 KiB) — split the batch`,
    );
  }
  const mediaType = (webhook.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!adapter.contentTypes.includes(mediaType)) {
    throw new UnsupportedMediaTypeError(
      `content type '${mediaType || '(none)'}' is not accepted here — send ${adapter.contentTypes.join(' or ')}`,
    );
  }
}

function toWebhookSecrets(secrets: Awaited<ReturnType<typeof loadSecrets>>) {
  return {
    genericWebhookSecret: secrets.GENERIC_WEBHOOK_SECRET,
    hubspotClientSecret: secrets.HUBSPOT_CLIENT_SECRET,
    pipedriveBasicAuth: secrets.PIPEDRIVE_BASIC_AUTH,
    salesforceOrgId: secrets.SALESFORCE_ORG_ID,
    salesforceWebhookToken: secrets.SALESFORCE_WEBHOOK_TOKEN,
  };
}
