import type { SNSEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { MAIL_IDENTITY_TAG, mailIdentity } from '../../functions/adapters/mailer.ts';
import type { LastDecision } from '../../functions/core/stored-deal.ts';
import { sendUnlessAccepted } from '../../functions/usecases/mail-once.ts';
import { recordMailSent } from '../../functions/usecases/record-mail-sent.ts';

/** An SNS delivery of SES event records, shaped as SES publishes them through a configuration set. */
function snsEvent(...records: object[]): SNSEvent {
  return {
    Records: records.map((record) => ({ Sns: { Message: JSON.stringify(record) } })),
  } as unknown as SNSEvent;
}

const sesRecord = (eventType: string, tags: Record<string, string[]>) => ({
  eventType,
  mail: {
    timestamp: '2026-12-04T08:00:00.012Z',
    source: 'stageflow@example.com',
    messageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
    destination: ['rep@example.com'],
    headersTruncated: false,
    tags: { 'ses:configuration-set': ['StageflowMail'], ...tags },
  },
  ...(eventType === 'Send' ? { send: {} } : {}),
});

describe('the mail log from SES sending events', () => {
  it('records each Send event by the identity the email was tagged with, and passes over the rest', async () => {
    const recordAccepted = vi.fn(async () => undefined);
    const identity = mailIdentity('default', 'D-1', 4, 'owner:stage');
    const recorded = await recordMailSent(
      snsEvent(
        sesRecord('Send', { [MAIL_IDENTITY_TAG]: [identity] }),
        sesRecord('Delivery', { [MAIL_IDENTITY_TAG]: [identity] }),
        sesRecord('Send', {}),
      ),
      { recordAccepted },
    );
    expect(recorded).toBe(1);
    expect(recordAccepted).toHaveBeenCalledExactlyOnceWith(identity, '2026-12-04T08:00:00.012Z');
  });

  it('gives each email of a decision its own identity, the same on every attempt, fit for a message tag', () => {
    const identity = mailIdentity('default', 'D-1', 4, 'owner:stage');
    expect(identity).toMatch(/^[0-9a-f]{40}$/);
    expect(mailIdentity('default', 'D-1', 4, 'owner:stage')).toBe(identity);
    expect(mailIdentity('default', 'D-1', 5, 'owner:stage')).not.toBe(identity);
    expect(mailIdentity('default', 'D-1', 4, 'owner:requested')).not.toBe(identity);
  });
});

describe('an email of a decision', () => {
  const decided = { version: 4, at: '2026-12-04T08:00:00.000Z' } as LastDecision;
  const target = (rerun: boolean) => ({ pipeline: 'default', dealId: 'D-1', decided, effect: 'owner:stage', rerun });

  it('is sent at once by a first run, which never asks the mail log', async () => {
    const accepted = vi.fn(async () => true);
    const send = vi.fn(async () => undefined);
    await sendUnlessAccepted(target(false), { accepted }, send);
    expect(accepted).not.toHaveBeenCalled();
    expect(send).toHaveBeenCalledExactlyOnceWith(mailIdentity('default', 'D-1', 4, 'owner:stage'));
  });

  it('is not sent again by a re-run when the mail service accepted it', async () => {
    const send = vi.fn(async () => undefined);
    await sendUnlessAccepted(target(true), { accepted: async () => true }, send);
    expect(send).not.toHaveBeenCalled();
  });

  it('is sent by a re-run when the mail service has no record of it', async () => {
    const accepted = vi.fn(async () => false);
    const send = vi.fn(async () => undefined);
    await sendUnlessAccepted(target(true), { accepted }, send);
    expect(accepted).toHaveBeenCalledWith(mailIdentity('default', 'D-1', 4, 'owner:stage'), expect.any(Date));
    expect(send).toHaveBeenCalledOnce();
  });
});
