import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { KEPT_DAYS, mailSentKey, TABLE_KEYS, ttlAfter } from './deals/keys.ts';
import type { TableRef } from './deals/table-ref.ts';
import { MAIL_IDENTITY_HEADER } from './mailer.ts';

/**
 * What the mail service itself recorded as accepted, by email identity (`mailIdentity`). SES takes no idempotency
 * key, so a run that may repeat an earlier run's email asks this log first: an email it knows is not sent again.
 */
export interface MailLog {
  /** Whether the mail service accepted an email of `identity` at `since` or later. */
  accepted(identity: string, since: Date): Promise<boolean>;
}

/**
 * The cloud's mail log: a `MAILSENT#<identity>` item per email, written from the configuration set's `Send` events
 * (`functions/mail-events`), which arrive seconds after SES accepted the email.
 */
export class TableMailLog implements MailLog {
  constructor(private readonly table: TableRef) {}

  async accepted(identity: string): Promise<boolean> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: mailSentKey(identity), ConsistentRead: true }),
    );
    return Item !== undefined;
  }

  /** Records that SES accepted the email of `identity` at `at` (a repeated event rewrites the same item). */
  async recordAccepted(identity: string, at: string): Promise<void> {
    await this.table.db.send(
      new PutCommand({
        TableName: this.table.tableName,
        Item: { ...mailSentKey(identity), at, [TABLE_KEYS.ttl]: ttlAfter(at, KEPT_DAYS.mailSent) },
      }),
    );
  }
}

/** One email as the local mail service (aws-ses-v2-local) keeps it in its store; only what the log reads. */
interface StoredMail {
  headers?: { name: string; value: string }[];
}

/**
 * The local mail log: the local mail service's own store (`GET <endpoint>/store?since=<epoch seconds>`), which
 * keeps each email's headers and is written before the service answers the send.
 */
export class LocalMailLog implements MailLog {
  constructor(private readonly endpoint: string) {}

  async accepted(identity: string, since: Date): Promise<boolean> {
    const url = new URL('/store', this.endpoint);
    url.searchParams.set('since', String(Math.floor(since.getTime() / 1000)));
    const response = await fetch(url).catch((error: unknown) => {
      throw new MailLogUnavailableError(String(error), { cause: error });
    });
    if (!response.ok) throw new MailLogUnavailableError(`the local mail service answered ${response.status}`);
    const { emails } = (await response.json()) as { emails: StoredMail[] };
    const header = MAIL_IDENTITY_HEADER.toLowerCase();
    return emails.some((email) =>
      email.headers?.some(({ name, value }) => name.toLowerCase() === header && value === identity),
    );
  }
}

/** The mail log could not be read (the mail service is down): the run is retried, never sends on a guess. */
export class MailLogUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(`the mail log could not be read: ${message}`, options);
    this.name = 'MailLogUnavailableError';
  }
}
