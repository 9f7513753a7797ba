import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RolloutPlan } from '../../functions/core/config/plan.ts';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { freePort, startDynamoDbLocal } from '../../infra/local/emulators.ts';
import { dealAt, getDeal, postGeneric, uniqueId } from '../support/api.ts';
import { waitForEmail } from '../support/mail.ts';
import { stackOnDisk } from '../support/stack-process.ts';

const run = promisify(execFile);
/** Each start here runs DynamoDB Local on a data folder next to the shared stack: allow a busy machine its time. */
const START_SECONDS = 240;

/** Runs a TypeScript entry point as its npm script does; resolves with its exit code and output, never rejects. */
async function script(entry: string, args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', entry, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 10 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

interface StageYaml {
  key: string;
  exitCriteria?: { field: string; require: string }[];
  entryApprovals?: string[];
  exitApprovals?: { role: string }[];
  reachableFrom?: string[];
}

/**
 * An admin edits the stage config of a stack with data on disk: adds an exit criterion, drops
 * Legal's approval and removes the propose stage. The plan names what that does to the open deals, start and synth
 * refuse until the removed stage is mapped, then the open deals follow the new version.
 */
describe('rolling an edited stage config out to open deals', () => {
  const onDisk = stackOnDisk('rollout', START_SECONDS);
  const { dataDir, configFile } = onDisk;
  afterAll(onDisk.stopAndRemove);

  it('plans, refuses an unmapped removed stage, then moves the open deals once', async () => {
    let stack = await onDisk.start();
    const api = stack.urls.api;
    const owner = { email: 'rep@example.com', name: 'Riley Rep' };
    const ready = uniqueId('D');
    await postGeneric(
      { eventId: uniqueId('E'), dealId: ready, stage: 'identify', owner, fields: EXIT_FIELDS.identify },
      { api },
    );
    const proposing = await dealAt('propose', { api });
    const delivering = await dealAt('deliver', { api });
    await waitForEmail(stack.urls.ses, 'legal@example.com', [delivering]);
    const versionBefore = (await getDeal(ready, 'default', api)).body.configVersion;
    expect(await stack.stop('SIGTERM')).toBe(0);

    const config = parse(readFileSync(configFile, 'utf8')) as {
      stages: StageYaml[];
      crm: Record<string, { stages: Record<string, string> }>;
      retiredStages?: Record<string, string>;
    };
    const stage = (key: string) => config.stages.find((s) => s.key === key) as StageYaml;
    stage('identify').exitCriteria?.push({ field: 'territory', require: 'present' });
    stage('deliver').entryApprovals = stage('deliver').entryApprovals?.filter((role) => role !== 'legal');
    stage('deliver').exitApprovals = stage('deliver').exitApprovals?.filter((a) => a.role !== 'legal');
    config.stages = config.stages.filter((s) => s.key !== 'propose');
    for (const s of config.stages) s.reachableFrom = s.reachableFrom?.filter((key) => key !== 'propose');
    for (const crm of Object.values(config.crm)) {
      crm.stages = Object.fromEntries(Object.entries(crm.stages).filter(([, key]) => key !== 'propose'));
    }
    writeFileSync(configFile, stringify(config));

    // The plan, with the stack stopped: it opens the data folder itself.
    const planEnv = { STAGEFLOW_DATA_DIR: dataDir, DYNAMODB_PORT: String(await freePort()) };
    const planned = await script('infra/config-plan.ts', [configFile, '--json'], planEnv);
    expect(planned.code, planned.stderr).toBe(2);
    const plan = JSON.parse(planned.stdout) as RolloutPlan;
    expect(plan.diff.from).toBe(versionBefore);
    expect(plan.stages.find((s) => s.stage === 'identify')).toMatchObject({
      newlyBlocked: 1,
      newlyBlockedDeals: [ready],
    });
    expect(plan.unmapped).toEqual([{ stage: 'propose', dealIds: [proposing] }]);
    expect(plan.cancelledApprovals).toBe(1);
    const refusal = plan.decisionNeeded ?? '';
    expect(refusal).toContain(`'propose' (1 open deal: ${proposing})`);

    // npm start refuses with the same message, and so does synth when it can read the live table.
    const refused = await onDisk.start().then(
      () => '',
      (error: Error) => error.message,
    );
    expect(refused).toContain(refusal);
    const dynamo = await startDynamoDbLocal({ port: await freePort(), dataDir: join(dataDir, 'dynamodb') });
    try {
      const synth = await script('infra/cloud/app.ts', [], {
        CDK_CONTEXT_JSON: JSON.stringify({ stageConfigDir: dataDir, liveTable: 'stageflow' }),
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      });
      expect(synth.code).toBe(1);
      expect(synth.stderr).toContain(refusal);
    } finally {
      await dynamo.stop();
    }

    // Mapped, the plan needs no decision and the start moves the open deals.
    config.retiredStages = { propose: 'negotiate' };
    writeFileSync(configFile, stringify(config));
    const mapped = await script('infra/config-plan.ts', [configFile], planEnv);
    expect(mapped.code, mapped.stdout + mapped.stderr).toBe(0);
    expect(mapped.stdout).toMatch(/removed\s+propose → negotiate \(retiredStages\)/);
    const newVersion = mapped.stdout.match(/live version [0-9a-f]{16} → ([0-9a-f]{16})/)?.[1];
    expect(newVersion).toBeDefined();
    // The README's example plan is this one.
    mkdirSync('test-output', { recursive: true });
    writeFileSync('test-output/config-plan.txt', mapped.stdout);
    stack = await onDisk.start();
    expect(stack.output()).toMatch(/moved 3 open deal\(s\)/);

    const blocked = await postGeneric({ eventId: uniqueId('E'), dealId: ready, stage: 'qualify' }, { api });
    expect(blocked.body).toMatchObject({ outcome: 'rejected' });
    expect(blocked.body.reasons).toContainEqual(expect.objectContaining({ missing: ['territory'] }));

    const moved = (await getDeal(proposing, 'default', api)).body;
    expect(moved).toMatchObject({ stage: 'negotiate', configVersion: newVersion });
    expect(moved.history.at(-1)).toMatchObject({
      type: 'config',
      from: versionBefore,
      to: newVersion,
      stage: { from: 'propose', to: 'negotiate' },
    });

    const delivered = (await getDeal(delivering, 'default', api)).body;
    expect(delivered.approvals.map((a) => [a.role, a.status])).toEqual([
      ['finance', 'pending'],
      ['legal', 'cancelled'],
    ]);
    await waitForEmail(stack.urls.ses, 'legal@example.com', ['No longer needed', delivering]);
    await waitForEmail(stack.urls.ses, 'rep@example.com', ['Approvals cancelled', delivering]);

    // A restart with the same file moves nothing.
    expect(await stack.stop('SIGTERM')).toBe(0);
    stack = await onDisk.start();
    expect(stack.output()).not.toMatch(/moved \d+ open deal/);
    const again = (await getDeal(proposing, 'default', api)).body;
    expect(again.history.filter((entry) => entry.type === 'config')).toHaveLength(1);
  }, 900_000);
});
