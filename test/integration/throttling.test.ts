import { setTimeout as sleep } from 'node:timers/promises';
import { SESv2ServiceException } from '@aws-sdk/client-sesv2';
import { SFNServiceException } from '@aws-sdk/client-sfn';
import type { MetadataBearer, MiddlewareStack } from '@smithy/types';
import { afterAll, describe, expect, it } from 'vitest';
import { ses, stepFunctions } from '../../functions/adapters/aws-clients.ts';
import { executionName } from '../../functions/adapters/workflow-client.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { startInProcessStack } from '../support/in-process-stack.ts';
import { sentEmails } from '../support/mail.ts';

/**
 * Step Functions and SES refuse calls over their rate with a throttling error (`ThrottlingException`; SES's
 * `TooManyRequestsException`, "Maximum sending rate exceeded"). The outbox retries the record, so throttling delays a bulk import's
 * effects and never loses or repeats one.
 */

const DEALS = 24;
/** How many calls each service refuses, every other call, before it lets everything through. */
const REFUSALS = 16;

/** Answers every other call of `commandName` with `error()`, `REFUSALS` times; counts what the service was asked. */
function throttle<Input extends object, Output extends MetadataBearer>(
  client: { middlewareStack: MiddlewareStack<Input, Output> },
  commandName: string,
  error: () => Error,
) {
  const seen = { calls: 0, refused: 0, outputs: [] as unknown[] };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== commandName) return next(args);
      seen.calls += 1;
      if (seen.refused < REFUSALS && seen.calls % 2 === 1) {
        seen.refused += 1;
        throw error();
      }
      const result = await next(args);
      seen.outputs.push({ input: args.input, output: result.output });
      return result;
    },
    // Before the SDK's own retries: the error reaches the outbox as it does once those are spent.
    { step: 'initialize', name: 'throttleForTest' },
  );
  return seen;
}

const metadata: MetadataBearer['$metadata'] = { httpStatusCode: 400 };

describe('throttled workflow and mail services during a bulk import', () => {
  let stack: LocalStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('starts every new deal’s execution and sends its owner’s email exactly once', async () => {
    stack = await startInProcessStack();
    const { url: api, sesUrl } = stack;
    const starts = throttle(
      stepFunctions(),
      'StartExecutionCommand',
      () =>
        new SFNServiceException({
          name: 'ThrottlingException',
          $fault: 'client',
          $metadata: metadata,
          message: 'Rate exceeded',
        }),
    );
    const mails = throttle(
      ses(),
      'SendEmailCommand',
      () =>
        new SESv2ServiceException({
          name: 'TooManyRequestsException',
          $fault: 'client',
          $metadata: metadata,
          message: 'Maximum sending rate exceeded.',
        }),
    );

    const batch = uniqueId('THROTTLED');
    const dealIds = Array.from({ length: DEALS }, (_, n) => `${batch}-${String(n).padStart(2, '0')}`);
    const answers = await Promise.all(
      dealIds.map((dealId) =>
        postGeneric(
          { eventId: `${dealId}-created`, dealId, stage: 'identify', owner: { email: 'rep@example.com', name: 'Rep' } },
          { api },
        ),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(dealIds.map(() => 202));

    const ownerMails = async () =>
      (await sentEmails(sesUrl)).filter((email) =>
        dealIds.some((id) => email.subject.includes(id) || (email.body.text ?? '').includes(id)),
      );
    const mailed = await waitFor(
      async () => {
        const emails = await ownerMails();
        return dealIds.every((id) => emails.some((e) => `${e.subject}\n${e.body.text ?? ''}`.includes(id)))
          ? emails
          : undefined;
      },
      `an email for each of ${DEALS} new deals`,
      120_000,
    );
    expect(starts.refused).toBe(REFUSALS);
    expect(mails.refused).toBe(REFUSALS);
    expect(mailed.length).toBeGreaterThanOrEqual(DEALS);
    // Whatever the outbox would still repeat has a moment to do so.
    await sleep(1500);

    const emails = await ownerMails();
    for (const dealId of dealIds) {
      expect(emails.filter((e) => `${e.subject}\n${e.body.text ?? ''}`.includes(`${dealId}`)).length, dealId).toBe(1);
    }
    // A start the service accepted is an execution; a repeated start of the same name is refused as existing.
    const started = starts.outputs.map((o) => (o as { input: { name?: string } }).input.name);
    for (const dealId of dealIds) {
      expect(started.filter((name) => name === executionName('default', dealId, 1)).length, dealId).toBe(1);
    }
  }, 240_000);
});
