import type { SNSEvent } from 'aws-lambda';
import * as z from 'zod/mini';
import type { TableMailLog } from '../adapters/mail-log.ts';
import { MAIL_IDENTITY_TAG } from '../adapters/mailer.ts';

/** The part of an SES sending event record the mail log reads: its type, its time and the email's tags. */
const SendingEventSchema = z.object({
  eventType: z.string(),
  mail: z.object({
    timestamp: z.string(),
    tags: z.optional(z.record(z.string(), z.array(z.string()))),
  }),
});

/**
 * Records in the mail log each email SES accepted (a `Send` event of the configuration set, delivered through SNS),
 * by the identity it was sent with. Events of other types, and emails sent without an identity, are passed over; a
 * repeated event writes the same item again.
 */
export async function recordMailSent(event: SNSEvent, mailLog: Pick<TableMailLog, 'recordAccepted'>): Promise<number> {
  let recorded = 0;
  for (const record of event.Records) {
    const { eventType, mail } = SendingEventSchema.parse(JSON.parse(record.Sns.Message));
    const identity = mail.tags?.[MAIL_IDENTITY_TAG]?.[0];
    if (eventType !== 'Send' || identity === undefined) continue;
    await mailLog.recordAccepted(identity, mail.timestamp);
    recorded += 1;
  }
  return recorded;
}
