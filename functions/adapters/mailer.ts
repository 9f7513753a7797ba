import { createHash } from 'node:crypto';
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { EmailMessage } from '../views/email-layout.ts';

/**
 * The header and message tag that carry an email's identity ({@link mailIdentity}): the tag reaches the
 * configuration set's sending events (`mail.tags`), the header the message itself (and the local mail service's
 * store), so the mail log can tell whether the email was accepted.
 */
export const MAIL_IDENTITY_HEADER = 'X-Stageflow-Effect';
export const MAIL_IDENTITY_TAG = 'stageflow-effect';

/**
 * The identity of one email: the same for every attempt to send it, different for any other email. `parts` name
 * what it is (the deal, the decision version, the effect, which names its one recipient); the identity is their
 * SHA-256 in hex, cut to 40 characters, because a message tag takes only letters, digits, `_` and `-`.
 */
export function mailIdentity(...parts: (string | number)[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40);
}

/** SES, for the emails Stageflow sends (approval requests, reminders, owner notifications, the digest). */
export class Mailer {
  constructor(
    private readonly ses: SESv2Client,
    private readonly from: string,
    private readonly configurationSet?: string,
  ) {}

  /** Sends `message`; with `identity` ({@link mailIdentity}) the email carries it as a header and a message tag. */
  async send(message: EmailMessage, identity?: string): Promise<void> {
    await this.ses.send(
      new SendEmailCommand({
        FromEmailAddress: this.from,
        Destination: { ToAddresses: [message.to], ...(message.cc ? { CcAddresses: message.cc } : {}) },
        Content: {
          Simple: {
            Subject: { Data: message.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
            ...(identity ? { Headers: [{ Name: MAIL_IDENTITY_HEADER, Value: identity }] } : {}),
          },
        },
        ...(identity ? { EmailTags: [{ Name: MAIL_IDENTITY_TAG, Value: identity }] } : {}),
        ConfigurationSetName: this.configurationSet,
      }),
    );
  }
}
