import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SNSEvent } from 'aws-lambda';
import { dynamoDb } from '../adapters/aws-clients.ts';
import { ENV, requireEnv } from '../adapters/environment.ts';
import { TableMailLog } from '../adapters/mail-log.ts';
import { logger } from '../powertools.ts';
import { recordMailSent } from '../usecases/record-mail-sent.ts';

const mailLog = new TableMailLog({ db: dynamoDb(), tableName: requireEnv(ENV.tableName) });

/** The configuration set's `Send` events (through SNS) into the mail log, which a re-run of a decision asks. */
export const handler = middy<SNSEvent, number>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler((event) => recordMailSent(event, mailLog));
