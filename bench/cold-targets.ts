import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { MAIL_IDENTITY_TAG } from '../functions/adapters/mailer.ts';
import type { ApiClient } from '../infra/local/api-client.ts';
import { type LocalStack, TABLE_NAME } from '../infra/local/stack.ts';
import type { Bundles, FunctionName } from './bundles.ts';
import { type ColdTarget, eventCapture } from './cold-init.ts';
import { type CrmSource, crmProbes } from './crm-webhooks.ts';
import { dealStory, timedDelivery } from './generic-webhook.ts';
import { reviewLink, type WonDeal } from './won-deal.ts';

/** What each cold start's first invocation does: a real job of that function against the running local stack. */

const PIPELINE = 'default';

/** A deal at `deliver` with its Finance/Legal approvals pending, and what each cold start invokes. */
export async function coldTargets(stack: LocalStack, client: ApiClient, id: string, won: WonDeal, bundles: Bundles) {
  const dealId = `COLD-${id}`;
  for (const event of dealStory(dealId, `cold-${id}`).slice(0, 9)) await timedDelivery(client, event);
  const link = new URL(await reviewLink(client, 'finance@example.com', dealId));
  const crm = {
    hubspot: crmProbes('hubspot', id),
    pipedrive: crmProbes('pipedrive', id),
    salesforce: crmProbes('salesforce', id),
  };
  for (const { create } of Object.values(crm)) {
    const { path, init } = create();
    const answer = await client.request(path, init);
    if (answer.status >= 300) throw new Error(`the stack answered ${answer.status} to ${path.split('?')[0]}`);
  }
  const capture = await eventCapture();
  let probe = 0;
  const crmProbe = (source: CrmSource) => {
    let n = 0;
    return () => {
      n += 1;
      const { path, init } = crm[source].probe(n);
      return capture.capture(path, init);
    };
  };
  const target = (name: FunctionName | 'hello' | 'floor', event: ColdTarget['event']): ColdTarget => ({
    bundleFile: bundles[name].file,
    functionName: `stageflow-${name}`,
    event,
  });
  const targets = {
    hello: target('hello', async () => ({})),
    floor: target('floor', async () => ({})),
    webhook: target('webhook', () => {
      probe += 1;
      const { body, headers } = client.signedGeneric({
        eventId: `cold-${id}-probe-${probe}`,
        dealId,
        fields: { coldStartProbe: probe },
      });
      return capture.capture('/webhooks/generic', { method: 'POST', headers, body });
    }),
    webhook_hubspot: target('webhook_hubspot', crmProbe('hubspot')),
    webhook_pipedrive: target('webhook_pipedrive', crmProbe('pipedrive')),
    webhook_salesforce: target('webhook_salesforce', crmProbe('salesforce')),
    approvals: target('approvals', () => capture.capture(`${link.pathname}${link.search}`)),
    read_api: target('read_api', () => capture.capture(`/deals/${encodeURIComponent(dealId)}?pipeline=${PIPELINE}`)),
    workflow: target('workflow', async () => ({
      action: 'closed',
      pipeline: PIPELINE,
      dealId: won.dealId,
      stage: 'closed_won',
    })),
    outbox: target('outbox', () => fieldUpdateStreamEvent(stack, dealId)),
    rollout: target('rollout', async () => rolloutOfLiveVersion(stack)),
    board: target('board', () => capture.capture(`/board?pipeline=${PIPELINE}`)),
    // EventBridge Scheduler invokes the digest with no input of its own (infra/cloud/constructs/digest-schedule.ts).
    digest: target('digest', async () => ({})),
    mail_events: target('mail_events', async () => {
      probe += 1;
      return mailSendEvent(`cold-${id}-${probe}`);
    }),
  };
  const invocations = {
    hello: 'returns 200 without any I/O',
    floor: 'creates a DynamoDB client and makes one GetItem against DynamoDB Local → expect HTTP 200',
    webhook: `POST /webhooks/generic: a signed field update of deal ${dealId} (at deliver) → expect HTTP 202`,
    webhook_hubspot: `POST /webhooks/hubspot: a signed deal.propertyChange of HubSpot deal ${crm.hubspot.dealId} (at identify) → expect HTTP 202`,
    webhook_pipedrive: `POST /webhooks/pipedrive: a deal change of Pipedrive deal ${crm.pipedrive.dealId} (at identify) → expect HTTP 202`,
    webhook_salesforce: `POST /webhooks/salesforce: an outbound message of Opportunity ${crm.salesforce.dealId} (at identify) → expect HTTP 200`,
    approvals: `GET /approvals/<id>?token=… of ${dealId}'s pending finance approval (review page) → expect HTTP 200`,
    read_api: `GET /deals/${dealId} → expect HTTP 200`,
    workflow: `a 'closed' task for won deal ${won.dealId} (reads it, emails its owner) → expect a return`,
    outbox: `the stream record of a field update of ${dealId} (no effect to run) → expect no batch item failure`,
    rollout: `the deploy's custom resource Update for the live version of '${PIPELINE}' (walks the open deals, none to move) → expect a return`,
    board: `GET /board?pipeline=${PIPELINE} (locally without the Cognito login) → expect HTTP 200`,
    digest: 'the scheduled stale-deal digest (reads the open deals, emails stale owners) → expect a return',
    mail_events:
      "an SNS delivery of one SES Send event carrying an email's identity tag (writes its mail log item) → expect a return",
  };
  return { targets, invocations, close: capture.close };
}

/** What SNS hands the mail log's recorder for one SES `Send` event of the configuration set. */
function mailSendEvent(identity: string) {
  const sending = {
    eventType: 'Send',
    mail: { timestamp: new Date().toISOString(), tags: { [MAIL_IDENTITY_TAG]: [identity] } },
  };
  return { Records: [{ EventSource: 'aws:sns', Sns: { Message: JSON.stringify(sending) } }] };
}

/**
 * The event CloudFormation's Provider framework hands the rollout function when a deploy updates the custom resource,
 * here for the version already live: every open deal is read and none moves.
 */
function rolloutOfLiveVersion(stack: LocalStack) {
  const live = stack.pipelines.get(PIPELINE);
  if (!live) throw new Error(`the local stack has no pipeline '${PIPELINE}'`);
  const properties = { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider', Pipeline: PIPELINE };
  return {
    RequestType: 'Update',
    ServiceToken: properties.ServiceToken,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/cold',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/stageflow/cold',
    RequestId: `cold-${Date.now()}`,
    LogicalResourceId: 'ConfigRollout',
    PhysicalResourceId: `rollout/${PIPELINE}/${live.version}`,
    ResourceType: 'Custom::ConfigRollout',
    ResourceProperties: { ...properties, Version: live.version },
    OldResourceProperties: { ...properties, Version: live.version },
  };
}

/** A DynamoDB stream event as Lambda delivers it: one MODIFY record of the deal item, a field update's decision. */
async function fieldUpdateStreamEvent(stack: LocalStack, dealId: string) {
  const client = new DynamoDBClient({ endpoint: stack.dynamoDbUrl });
  const key = { pk: { S: `DEAL#${PIPELINE}#${dealId}` }, sk: { S: 'DEAL' } };
  const { Item } = await client.send(new GetItemCommand({ TableName: TABLE_NAME, Key: key }));
  if (!Item) throw new Error(`deal ${dealId} is not stored`);
  const version = Number(Item.version?.N ?? 0);
  const next = {
    ...Item,
    version: { N: String(version + 1) },
    lastDecision: {
      M: { ...(Item.lastDecision?.M ?? {}), version: { N: String(version + 1) }, kind: { S: 'event' } },
    },
  };
  return {
    Records: [
      {
        eventID: `cold-${version}`,
        eventName: 'MODIFY',
        eventSource: 'aws:dynamodb',
        dynamodb: { Keys: key, OldImage: Item, NewImage: next, SequenceNumber: String(version + 1) },
      },
    ],
  };
}
