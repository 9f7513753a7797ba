import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CRASH_AFTER_MAILS, OUTBOX_PAUSED } from '../../infra/local/stack.ts';
import { dealAt } from '../support/api.ts';
import { expectDealEmailsOnce } from '../support/mail.ts';
import { freePorts, type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * SES takes no idempotency key: a process that dies after the mail service accepted an email but before the email
 * was marked done must not send it again after the restart, and must not lose any other email either.
 */
describe('a crash between an email being accepted and its done-mark', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stageflow-mail-crash-'));
  let stack: StackProcess | undefined;

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends every email of the decisions exactly once after the restart', async () => {
    const env = { ...(await freePorts()), STAGEFLOW_DATA_DIR: dataDir };
    // The decisions are committed with their effects held back.
    stack = await startStackProcess({ ...env, [OUTBOX_PAUSED]: 'true' });
    const dealId = await dealAt('deliver', { api: stack.urls.api });
    await stack.stop();

    // The mail service kills the stack with SIGKILL right after it accepted the third email, before it answers.
    const crashed = await startStackProcess({ ...env, [CRASH_AFTER_MAILS]: '3' }).then(
      (started) => started.exited,
      (error: Error) => error.message,
    );
    expect(String(crashed)).toMatch(/^(null|the local stack exited with null)/);

    stack = await startStackProcess(env);
    const mail = await expectDealEmailsOnce(stack.urls.ses, dealId);
    expect(mail).toHaveLength(8);
  }, 300_000);
});
