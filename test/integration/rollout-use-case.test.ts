import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { PipelineCatalog } from '../../functions/adapters/pipeline-catalog.ts';
import { ensureTable } from '../../functions/adapters/table.ts';
import { configVersion } from '../../functions/core/config/read.ts';
import { decideEvent } from '../../functions/core/decide/entry-points.ts';
import { UnmappedRetiredStageError } from '../../functions/core/migrate.ts';
import type { PipelineConfig, VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { readRolloutPlan, rolloutPipeline } from '../../functions/usecases/rollout.ts';
import { rolloutDeployedVersion } from '../../functions/usecases/rollout-deployment.ts';
import type { Services } from '../../functions/usecases/services.ts';
import { stackUrls } from '../support/api.ts';
import { silentTelemetry } from '../support/telemetry.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';

const v1 = loadPipelineConfig('stage-config/default.yaml');
function edit(change: (config: PipelineConfig) => void): VersionedPipeline {
  const config = structuredClone(v1.config);
  change(config);
  return { config, version: configVersion(config) };
}
/** Version 2 adds an exit criterion to identify and retires qualify into identify. */
const v2 = edit((config) => {
  config.stages.find((s) => s.key === 'identify')?.exitCriteria.push({ field: 'territory', require: 'present' });
  config.stages = config.stages.filter((s) => s.key !== 'qualify');
  config.retiredStages = { qualify: 'identify' };
});
/** Version 3 removes identify (and qualify) without saying where the deals of identify go. */
const v3 = edit((config) => {
  config.stages = config.stages.filter((s) => s.key !== 'qualify' && s.key !== 'identify');
  config.rules.startStages = ['propose'];
});

/** The rollout use case against DynamoDB Local, in a table of its own, page by page and with crashes. */
describe('rolling a new config version out to the open deals', () => {
  const urls = stackUrls();
  const client = new DynamoDBClient({ endpoint: urls.dynamoDb, region, credentials });
  const tableName = `rollout-${randomUUID()}`;
  const deals = new DealRepository(DynamoDBDocumentClient.from(client), tableName);
  const services: Services = {
    deals,
    pipelines: new PipelineCatalog(deals, { default: v1.version }),
    telemetry: silentTelemetry(),
    publicBaseUrl: urls.api,
    clock: () => new Date(),
  };
  const ids = { identify: [] as string[], qualify: [] as string[], lost: [] as string[] };

  beforeAll(async () => {
    await ensureTable(client, tableName);
    for (const version of [v1, v2, v3]) await deals.putPipelineVersion(version);
    await deals.putLiveVersion('default', v1.version, new Date().toISOString());
    const ctx = () => ({
      now: new Date().toISOString(),
      newApprovalId: randomUUID,
      timing: { reminderSeconds: 60, expirySeconds: 120 },
    });
    const create = async (stage: string | null, n: number) => {
      const dealId = `D-${n}-${randomUUID().slice(0, 8)}`;
      const event = (eventStage: string, fields = {}) => ({
        source: 'generic' as const,
        eventId: randomUUID(),
        pipeline: 'default',
        dealId,
        stage: eventStage,
        occurredAt: new Date(Date.now() + n).toISOString(),
        fields,
      });
      let before = null;
      let decision = decideEvent(v1, null, event('identify'), ctx());
      before = await deals.commit({ before, decision });
      for (const [to, fields] of stage === null
        ? []
        : stage === 'qualify'
          ? [['qualify', { decisionMaker: 'Jane', firstMeetingDate: '2026-11-20' }]]
          : [
              ['qualify', { decisionMaker: 'Jane', firstMeetingDate: '2026-11-20' }],
              ['closed_lost', { lostReason: 'budget' }],
            ]) {
        decision = decideEvent(v1, before?.deal ?? null, event(to as string, fields as object), ctx());
        before = await deals.commit({ before, decision });
      }
      return dealId;
    };
    for (let n = 0; n < 17; n++) ids.identify.push(await create(null, n));
    for (let n = 0; n < 9; n++) ids.qualify.push(await create('qualify', 100 + n));
    for (let n = 0; n < 2; n++) ids.lost.push(await create('closed_lost', 200 + n));
  });

  it('plans first: every open deal moves, the qualify deals go to identify', async () => {
    const plan = await readRolloutPlan(deals, v2);
    expect(plan).toMatchObject({ moving: 26, decisionNeeded: null });
    expect(plan.stages).toEqual([
      expect.objectContaining({ stage: 'identify', open: 17, newlyBlocked: 0 }),
      expect.objectContaining({ stage: 'qualify', open: 9, movesTo: 'identify' }),
    ]);
  });

  it('killed halfway and run again, moves every open deal exactly once and leaves closed deals alone', async () => {
    let migrated = 0;
    const crash = () => {
      migrated++;
      if (migrated === 11) throw new Error('simulated crash halfway');
    };
    await expect(rolloutPipeline(v2, services, { pageSize: 4, migrated: crash })).rejects.toThrow('simulated crash');
    expect(await deals.getLiveVersion('default')).toBe(v1.version);

    const rerun = await rolloutPipeline(v2, services, { pageSize: 4 });
    expect(rerun).toMatchObject({ from: v1.version, to: v2.version, moved: 26 - 11 });
    expect(await deals.getLiveVersion('default')).toBe(v2.version);

    for (const dealId of [...ids.identify, ...ids.qualify]) {
      const found = await deals.getDealWithHistory('default', dealId);
      expect(found?.stored.deal).toMatchObject({ configVersion: v2.version, stage: 'identify' });
      expect(found?.history.filter((entry) => entry.type === 'config')).toEqual([
        expect.objectContaining({ from: v1.version, to: v2.version }),
      ]);
    }
    for (const dealId of ids.lost) {
      expect((await deals.getDeal('default', dealId))?.deal).toMatchObject({
        configVersion: v1.version,
        status: 'lost',
      });
    }
    expect(await rolloutPipeline(v2, services, { pageSize: 4 })).toMatchObject({ moved: 0 });
  });

  it('as the deploy custom resource: deletes nothing, and a refused rollout fails the deployment with a metric', async () => {
    const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
    const metrics = new Metrics({ namespace: 'Stageflow', serviceName: 'stageflow-rollout' });
    const added = vi.spyOn(metrics, 'addMetric');
    const event = (RequestType: 'Create' | 'Delete', Version: string) =>
      ({ RequestType, ResourceProperties: { ServiceToken: 'arn', Pipeline: 'default', Version } }) as never;
    expect(await rolloutDeployedVersion(event('Delete', v3.version), services, { logger, metrics })).toEqual({
      PhysicalResourceId: `rollout/default/${v3.version}`,
    });
    await expect(rolloutDeployedVersion(event('Create', v3.version), services, { logger, metrics })).rejects.toThrow(
      UnmappedRetiredStageError,
    );
    expect(added).toHaveBeenCalledWith('RolloutFailed', 'Count', 1);
    expect(await rolloutDeployedVersion(event('Create', v2.version), services, { logger, metrics })).toEqual({
      PhysicalResourceId: `rollout/default/${v2.version}`,
      Data: { Moved: 0, CancelledApprovals: 0 },
    });
  });

  it('config:plan reads a table by name with the AWS SDK (the cloud path) or the running stack (DYNAMODB_PORT)', async () => {
    const cloud = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'infra/config-plan.ts', '--json', '--table', tableName],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_DYNAMODB: urls.dynamoDb,
          AWS_REGION: region,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
        },
      },
    );
    expect(cloud.status, cloud.stderr).toBe(0);
    expect(JSON.parse(cloud.stdout)).toMatchObject({ diff: { from: v2.version, to: v1.version }, moving: 26 });
    const running = spawnSync(process.execPath, ['--import', 'tsx', 'infra/config-plan.ts', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, DYNAMODB_PORT: new URL(urls.dynamoDb).port },
    });
    expect(running.status, running.stderr).toBe(0);
    expect(JSON.parse(running.stdout)).toMatchObject({
      diff: { from: v1.version, to: v1.version, stages: [], settings: [] },
    });
  });

  it('refuses before moving anything when open deals sit in a removed stage without a mapping', async () => {
    const error = await rolloutPipeline(v3, services).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnmappedRetiredStageError);
    expect((error as UnmappedRetiredStageError).stages).toEqual([
      { stage: 'identify', dealIds: expect.arrayContaining([...ids.identify, ...ids.qualify]) },
    ]);
    expect(await deals.getLiveVersion('default')).toBe(v2.version);
    expect((await deals.getDeal('default', ids.identify[0] ?? ''))?.deal.configVersion).toBe(v2.version);
  });
});
