import { spawn } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getDeal, stackUrls } from '../support/api.ts';
import { freePorts } from '../support/stack-process.ts';

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run demo` as a user runs it, pointed at the shared test stack through PORT and SES_PORT. */
function runDemo(env: Record<string, string> = {}, args: string[] = []): Promise<DemoRun> {
  const { api, ses } = stackUrls();
  const child = spawn('node_modules/.bin/tsx', ['infra/local/demo.ts', ...args], {
    env: {
      ...process.env,
      // tsx runs on the first `node` on PATH: the Node 24 that runs this test, as `npm run` would arrange.
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      PORT: new URL(api).port,
      SES_PORT: new URL(ses).port,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  it('drives one deal to closed_won on the running stack, both approvals clicked through, and prints the timeline', async () => {
    const run = await runDemo();
    expect(run.stderr).not.toContain('The demo failed');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Using the stack already running at ${stackUrls().api}`);
    expect(run.stdout).toContain('The deal comes through the generic webhook');
    expect(run.stdout).toMatch(/SKIP_NOT_ALLOWED/);
    expect(run.stdout).toMatch(/EXIT_CRITERIA_UNMET: .*\(missing: budgetConfirmed\)/);
    expect(run.stdout).toMatch(/finance: .*\n.*opened the review page \(200.*pressed Approve \(200/);
    expect(run.stdout).toMatch(/legal: .*\n.*opened the review page \(200.*pressed Approve \(200/);
    expect(run.stdout).toMatch(/move +deliver → closed_won +applied/);
    expect(run.stdout).toMatch(/finance +approved by .*finance@example\.com/);
    expect(run.stdout).toMatch(/legal +approved by .*legal@example\.com/);
    expect(run.stdout).toContain(`${stackUrls().api}/pipelines/default/stages`);

    const dealId = /Deal (DEMO-\S+)/.exec(run.stdout)?.[1];
    expect(dealId).toBeDefined();
    const deal = await getDeal(dealId ?? '');
    expect(deal.body).toMatchObject({ stage: 'closed_won', status: 'won' });
    expect(deal.body.approvals.map((a) => [a.role, a.status]).sort()).toEqual([
      ['finance', 'approved'],
      ['legal', 'approved'],
    ]);
  });

  it('with no stack running, starts one and plays HubSpot: refused moves set back and noted, the win moved after both approvals', async () => {
    // Free ports: no stack answers there, so the demo starts its own, in memory, writing back to its HubSpot stand-in.
    const run = await runDemo({ ...(await freePorts()), STAGEFLOW_DATA_DIR: '' });
    expect(run.stderr).not.toContain('The demo failed');
    expect(run.code).toBe(0);
    const dealId = /Deal (\d+) "Acme rollout" in HubSpot/.exec(run.stdout)?.[1];
    expect(dealId).toBeDefined();
    const stageWrite = (dealstage: string) =>
      `[hubspot stand-in] PATCH /crm/v3/objects/deals/${dealId} {"properties":{"dealstage":"${dealstage}"}} → 200`;
    // The skip to negotiate and the early propose are both set back to qualifiedtobuy, each with its note.
    expect(run.stdout.split(stageWrite('qualifiedtobuy'))).toHaveLength(3);
    expect(run.stdout).toMatch(
      /\[hubspot stand-in\] POST \/crm\/v3\/objects\/notes .*Stageflow refused the move to Negotiate/,
    );
    expect(run.stdout).toMatch(
      /\[hubspot stand-in\] POST \/crm\/v3\/objects\/notes .*Stageflow refused the move to Propose/,
    );
    // The win is held back in HubSpot until both approvals, then moved to closedwon once.
    expect(run.stdout).toContain(stageWrite('contractsent'));
    expect(run.stdout.split(stageWrite('closedwon'))).toHaveLength(2);
    expect(run.stdout).toContain(
      'HubSpot shows closedwon, with Stageflow\'s note "Stageflow moved the deal to Closed Won',
    );
    expect(run.stdout).toMatch(/crm_sync +— → closed_won +synced +hubspot HTTP 200/);
    expect(run.stdout).toContain('is won, and HubSpot agrees.');
  });

  it('with --finance-group, runs its own stack where Finance is a group: one member approves for Finance', async () => {
    const run = await runDemo({ ...(await freePorts()), STAGEFLOW_DATA_DIR: '' }, ['--finance-group']);
    expect(run.stderr).not.toContain('The demo failed');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Finance is a group here: ana@example.com, ben@example.com, cy@example.com');
    expect(run.stdout).toMatch(/finance: email to ana@example\.com.*\n.*pressed Approve \(200/);
    expect(run.stdout).toMatch(/finance +approved by ana@example\.com/);
    expect(run.stdout).toMatch(/legal +approved by .*legal@example\.com/);
    expect(run.stdout).toContain('is won, and HubSpot agrees.');
  });

  it('exits non-zero with a sentence that says what to fix when the stack refuses its signature', async () => {
    const secret = 'not-the-secret-the-stack-uses';
    const run = await runDemo({ GENERIC_WEBHOOK_SECRET: secret });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('The demo failed: the stack refused the signature of POST /webhooks/generic (401)');
    expect(run.stderr).toContain('GENERIC_WEBHOOK_SECRET');
    expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
  });
});
