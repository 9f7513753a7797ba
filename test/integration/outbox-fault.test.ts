import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_PAUSED } from '../../infra/local/stack.ts';
import { dealAt, getDeal } from '../support/api.ts';
import { expectDealEmailsOnce, sentEmails } from '../support/mail.ts';
import { freePorts, type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * The outbox's promise: a decision that was committed has its side effects, exactly once, even when
 * the process dies between the commit and the effects.
 */
describe('a crash between the commit and its side effects', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stageflow-outbox-'));
  let stack: StackProcess | undefined;

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs every effect of the committed decisions once after the restart', async () => {
    const ports = await freePorts();
    const env = { ...ports, STAGEFLOW_DATA_DIR: dataDir };
    // Side effects held back: the moves are committed and answered, nothing else happens before the kill.
    stack = await startStackProcess({ ...env, [OUTBOX_PAUSED]: 'true' });
    const dealId = await dealAt('deliver', { api: stack.urls.api });
    expect((await getDeal(dealId, 'default', stack.urls.api)).body.stage).toBe('deliver');
    expect(await sentEmails(stack.urls.ses)).toEqual([]);
    await stack.stop('SIGKILL');

    stack = await startStackProcess(env);
    await expectDealEmailsOnce(stack.urls.ses, dealId);
  }, 240_000);
});
