import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadSecrets } from '../adapters/secrets.ts';
import { type EventResult, SOURCES, type Source } from '../core/deal.ts';
import { NotFoundError, PayloadTooLargeError, RequestError, UnsupportedMediaTypeError } from '../core/errors.ts';
import { type HttpResult, rawBody } from '../http/responses.ts';
import { boundOccurredAt } from '../sources/body.ts';
import { adapters } from '../sources/index.ts';
import type { SourceAdapter, WebhookRequest } from '../sources/types.ts';
import { recordEvent } from './record-event.ts';
import type { Services } from './services.ts';

/** Bodies over 256 KiB are refused. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

/**
 * One webhook delivery: size, content type, authentication and parsing (each refusal changes nothing), then every
 * event recorded in order, answered the way the sender expects.
 */
export async function receiveWebhook(request: APIGatewayProxyEventV2, services: Services): Promise<HttpResult> {
  const source = request.pathParameters?.source;
  if (!isSource(source)) {
    throw new NotFoundError(`no webhook source '${source}' — use one of: ${SOURCES.join(', ')}`);
  }
  const adapter = await adapters[source]();
  try {
    const webhook = toWebhookRequest(request, services);
    checkEnvelope(webhook, adapter);
    // The pipelines' configs and the secrets are read together: on a cold start each is a round trip of its own.
    const [configs, secrets] = await Promise.all([
      Promise.all(
        services.pipelines
          .pipelineIds()
          .map(async (id) => [id, (await services.pipelines.current(id)).config] as const),
      ).then((entries) => new Map(entries)),
      loadSecrets(),
    ]);
    const context = {
      secrets: toWebhookSecrets(secrets),
      publicBaseUrl: services.publicBaseUrl,
      pipelines: (id: string) => configs.get(id),
    };
    adapter.authenticate(webhook, context);
    const events = adapter.parse(webhook, context).map((event) => boundOccurredAt(event, webhook.receivedAt));
    const results: EventResult[] = [];
    for (const event of events) results.push(await recordEvent(event, services));
    return adapter.respond(results);
  } catch (error) {
    if (error instanceof RequestError) return adapter.respondError(error);
    throw error;
  }
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
