import { AsyncLocalStorage } from 'node:async_hooks';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { dynamoDb } from '../../functions/adapters/aws-clients.ts';
import { logger, metrics } from '../../functions/powertools.ts';
import { genericAdapter, genericSignatureHeader } from '../../functions/sources/generic.ts';
import { hubspotAdapter, hubspotSignatureHeaders } from '../../functions/sources/hubspot.ts';
import { receiveWebhook } from '../../functions/usecases/receive-webhook.ts';
import { servicesFromEnvironment } from '../../functions/usecases/services.ts';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { fixture } from '../fixtures/signing.ts';
import { postGeneric, postHubspot, uniqueId, uniqueNumber } from '../support/api.ts';
import { inProcessStackForSuite } from '../support/in-process-stack.ts';

/**
 * What a webhook function's first event costs in DynamoDB calls, as on a cold start: services built afresh (nothing
 * cached), the event's deal and its pipeline's config read together, then the decision committed.
 */

/** A webhook delivery as API Gateway hands it to the function: `body` to `/webhooks/<source>` with `headers`. */
function apiGatewayRequest(source: string, body: string, headers: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `POST /webhooks/${source}`,
    rawPath: `/webhooks/${source}`,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: { http: { method: 'POST', path: `/webhooks/${source}` } },
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

function signedGenericRequest(event: Record<string, unknown>): APIGatewayProxyEventV2 {
  const body = JSON.stringify(event);
  return apiGatewayRequest('generic', body, {
    'stageflow-signature': genericSignatureHeader(DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET, body),
  });
}

/** An event of HubSpot's sample batch (`subscriptionType`), made about deal `objectId` now. */
function hubspotEvent(subscriptionType: string, objectId: number, change: Record<string, unknown> = {}) {
  const template = (JSON.parse(fixture('hubspot', 'deal-batch.json')) as Record<string, unknown>[]).find(
    (event) => event.subscriptionType === subscriptionType,
  );
  return { ...template, eventId: uniqueNumber(), objectId, occurredAt: Date.now(), ...change };
}

/** A HubSpot batch, signed as HubSpot signs it for the stack's public URL. */
function signedHubspotRequest(events: unknown[], publicUrl: string): APIGatewayProxyEventV2 {
  const body = JSON.stringify(events);
  return apiGatewayRequest(
    'hubspot',
    body,
    hubspotSignatureHeaders(DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET, `${publicUrl}/webhooks/hubspot`, body),
  );
}

/**
 * The DynamoDB commands `work` sends through the functions' shared client, in order: only its own, told apart by
 * their async context from what the running stack's outbox sends meanwhile.
 */
async function commandsOf(work: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const mine = new AsyncLocalStorage<true>();
  const name = uniqueId('commandsOf');
  dynamoDb().middlewareStack.add(
    (next, context) => async (args) => {
      if (mine.getStore()) sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name },
  );
  try {
    await mine.run(true, work);
    return sent;
  } finally {
    dynamoDb().middlewareStack.remove(name);
  }
}

describe("a webhook function's first event", () => {
  const stack = inProcessStackForSuite();

  it('reads the deal with its pipeline config in one call, then commits in one', async () => {
    const dealId = uniqueId('FIRST');
    const created = await postGeneric(
      { eventId: uniqueId('E'), dealId, stage: 'identify', dealName: 'First calls' },
      { api: stack().url },
    );
    expect(created.body).toMatchObject({ outcome: 'applied' });

    const cold = servicesFromEnvironment({ logger, metrics });
    const update = { eventId: uniqueId('E'), dealId, fields: { budgetConfirmed: true } };
    const sent = await commandsOf(async () => {
      const answer = await receiveWebhook(signedGenericRequest(update), cold, { generic: genericAdapter });
      expect(answer.statusCode).toBe(202);
      expect(JSON.parse(String(answer.body))).toMatchObject({ outcome: 'applied', dealId });
    });

    expect(sent).toEqual(['BatchGetItemCommand', 'TransactWriteItemsCommand']);
  });

  it('routes a CRM event on the deal read with its pipeline config in one call, then commits in one', async () => {
    const objectId = uniqueNumber();
    const created = await postHubspot([hubspotEvent('deal.creation', objectId)], stack().url);
    expect(created.body).toMatchObject({ results: [{ outcome: 'applied' }] });

    const cold = servicesFromEnvironment({ logger, metrics });
    const sent = await commandsOf(async () => {
      const change = hubspotEvent('deal.propertyChange', objectId, {
        propertyName: 'budgetConfirmed',
        propertyValue: 'true',
      });
      const request = signedHubspotRequest([change], cold.publicBaseUrl);
      const answer = await receiveWebhook(request, cold, { hubspot: hubspotAdapter });
      expect(answer.statusCode).toBe(202);
      expect(JSON.parse(String(answer.body))).toMatchObject({ results: [{ outcome: 'applied' }] });
    });

    expect(sent).toEqual(['BatchGetItemCommand', 'TransactWriteItemsCommand']);
  });
});
