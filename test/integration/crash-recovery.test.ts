import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESClient } from '@aws-sdk/client-ses';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { Mailer } from '../../functions/adapters/mailer.ts';
import { PipelineCatalog } from '../../functions/adapters/pipeline-catalog.ts';
import { executionName, WorkflowClient } from '../../functions/adapters/workflow-client.ts';
import { loadPipelineConfig } from '../../functions/core/config-loader.ts';
import type { StageEvent } from '../../functions/core/deal.ts';
import { recordEvent } from '../../functions/usecases/record-event.ts';
import type { Services } from '../../functions/usecases/services.ts';
import { TABLE_NAME } from '../../infra/local/stack.ts';
import { getDeal, postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { silentTelemetry } from '../support/telemetry.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';

/** A process that records the decision, then dies before telling the workflow. */
class CrashingWorkflow extends WorkflowClient {
  override async start(): Promise<void> {
    throw new Error('simulated crash between the recording and the hand-off');
  }
}

describe('a crash between recording an event and handing it off', () => {
  it('loses nothing: the redelivered event answers duplicate and completes the hand-off', async () => {
    const urls = stackUrls();
    const deals = new DealRepository(
      DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: urls.dynamoDb, region, credentials })),
      TABLE_NAME,
    );
    const pipeline = loadPipelineConfig('stage-config/default.yaml');
    const services: Services = {
      deals,
      pipelines: new PipelineCatalog(deals, { default: pipeline.version }),
      workflow: new CrashingWorkflow(new SFNClient({ endpoint: urls.stepFunctions, region, credentials }), {}),
      mailer: new Mailer(new SESClient({ endpoint: urls.ses, region, credentials }), 'stageflow@example.com'),
      telemetry: silentTelemetry(),
      publicBaseUrl: urls.api,
      clock: () => new Date(),
    };
    const dealId = uniqueId('D');
    const event: StageEvent = {
      source: 'generic',
      eventId: uniqueId('E'),
      pipeline: 'default',
      dealId,
      stage: 'identify',
      occurredAt: new Date().toISOString(),
      fields: { decisionMaker: 'Jane Roe' },
    };

    await expect(recordEvent(event, services)).rejects.toThrow('simulated crash');
    const recorded = await getDeal(dealId);
    expect(recorded.status).toBe(200);
    expect(recorded.body.stage).toBe('identify');
    expect((await deals.getEvent('generic', event.eventId))?.handedOff).toBe(false);

    const retry = await postGeneric({
      eventId: event.eventId,
      dealId,
      stage: 'identify',
      occurredAt: event.occurredAt,
      fields: event.fields,
    });
    expect(retry.body).toMatchObject({ outcome: 'duplicate', stage: 'identify' });
    expect((await deals.getEvent('generic', event.eventId))?.handedOff).toBe(true);
    expect((await getDeal(dealId)).body.history).toHaveLength(1);

    const sfn = new SFNClient({ endpoint: urls.stepFunctions, region, credentials });
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:stageflow-default-${pipeline.version}:${executionName('default', dealId, 1)}`;
    const status = await waitFor(async () => {
      const execution = await sfn.send(new DescribeExecutionCommand({ executionArn })).catch(() => undefined);
      return execution?.status;
    }, 'the deal execution to exist');
    expect(status).toBe('RUNNING');
  });
});
