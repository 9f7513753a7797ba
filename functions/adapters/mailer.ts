import { type SESClient, SendEmailCommand } from '@aws-sdk/client-ses';
import type { EmailMessage } from '../views/email-layout.ts';

/** SES, for the emails Stageflow sends (approval requests, reminders, owner notifications). */
export class Mailer {
  constructor(
    private readonly ses: SESClient,
    private readonly from: string,
    private readonly configurationSet?: string,
  ) {}

  async send(message: EmailMessage): Promise<void> {
    await this.ses.send(
      new SendEmailCommand({
        Source: this.from,
        Destination: { ToAddresses: [message.to], ...(message.cc ? { CcAddresses: message.cc } : {}) },
        Message: {
          Subject: { Data: message.subject, Charset: 'UTF-8' },
          Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
        },
        ConfigurationSetName: this.configurationSet,
      }),
    );
  }
}
