import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RolloutPlan } from '../../functions/core/config/plan.ts';
import { freePort } from '../../infra/local/emulators.ts';
import { dealAt, getDeal } from '../support/api.ts';
import { decide, reviewLink, waitForEmail } from '../support/mail.ts';
import { stackOnDisk } from '../support/stack-process.ts';

const run = promisify(execFile);
const START_SECONDS = 240;

interface StageYaml {
  key: string;
  entryApprovals?: string[];
  exitApprovals?: { role: string }[];
}

/**
 * An admin removes the Legal approver role and turns Finance into a group while deals wait for both. The plan says
 * who would be asked instead; after the rollout Legal is told its request is gone and its link answers 410 with a
 * page that says so, the old Finance address is told its link no longer decides, and the group's members are asked.
 */
describe('a rollout that changes or removes the approvers of pending approvals', () => {
  const onDisk = stackOnDisk('approvers', START_SECONDS);
  afterAll(onDisk.stopAndRemove);

  it('tells the people no longer asked, answers their links 410, and asks the new ones', async () => {
    let stack = await onDisk.start();
    let { api, ses } = stack.urls;
    const dealId = await dealAt('deliver', { api });
    const legal = await waitForEmail(ses, 'legal@example.com', [dealId, 'Approval needed:']);
    const finance = await waitForEmail(ses, 'finance@example.com', [dealId, 'Approval needed:']);
    expect(await stack.stop('SIGTERM')).toBe(0);

    const config = parse(readFileSync(onDisk.configFile, 'utf8')) as {
      approvers: Record<string, unknown>;
      stages: StageYaml[];
    };
    delete config.approvers.legal;
    config.approvers.finance = { name: 'Finance', members: ['ana@desk.test', 'ben@desk.test'] };
    for (const stage of config.stages) {
      stage.entryApprovals = stage.entryApprovals?.filter((role) => role !== 'legal');
      stage.exitApprovals = stage.exitApprovals?.filter((a) => a.role !== 'legal');
    }
    writeFileSync(onDisk.configFile, stringify(config));

    const planned = await run(
      process.execPath,
      ['--import', 'tsx', 'infra/config-plan.ts', onDisk.configFile, '--json'],
      { env: { ...process.env, STAGEFLOW_DATA_DIR: onDisk.dataDir, DYNAMODB_PORT: String(await freePort()) } },
    );
    const plan = JSON.parse(planned.stdout) as RolloutPlan;
    expect(plan.cancelledApprovals).toBe(1);
    expect(plan.reroutedApprovals).toEqual([
      {
        dealId,
        approvalId: expect.any(String),
        role: 'finance',
        askedNow: ['Finance <finance@example.com>'],
        askedAfter: ['ana@desk.test', 'ben@desk.test'],
      },
    ]);

    stack = await onDisk.start();
    ({ api, ses } = stack.urls);
    const cancelled = await waitForEmail(ses, 'legal@example.com', [dealId, 'No longer needed:']);
    expect(cancelled.subject).toContain('Legal');
    for (const answer of [await fetch(reviewLink(legal)), await decide(reviewLink(legal), 'approve')]) {
      expect(answer.status).toBe(410);
    }
    expect(await (await fetch(reviewLink(legal))).text()).toContain('no longer needs this approval');

    await waitForEmail(ses, 'finance@example.com', [dealId, 'No longer yours to decide:']);
    expect((await decide(reviewLink(finance), 'approve')).status).toBe(410);
    const ana = await waitForEmail(ses, 'ana@desk.test', [dealId, 'Approval needed:']);
    await waitForEmail(ses, 'ben@desk.test', [dealId, 'Approval needed:']);
    expect((await decide(reviewLink(ana), 'approve')).status).toBe(200);
    const { body } = await getDeal(dealId, 'default', api);
    expect(body.approvals.map((a) => `${a.role}:${a.status}`)).toEqual(['finance:approved', 'legal:cancelled']);
  }, 600_000);
});
