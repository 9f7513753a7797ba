import { Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import {
  ConfigurationSet,
  ConfigurationSetEventDestination,
  EmailSendingEvent,
  EventDestination,
} from 'aws-cdk-lib/aws-ses';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { mailSentKey } from '../../../functions/adapters/deals/keys.ts';
import { failureQueue } from './failure-queue.ts';
import type { StageflowFunction } from './stageflow-function.ts';

/** Properties of the mail log's event wiring. */
export interface MailSendEventsProps {
  /** The configuration set every email is sent through (created by the stack or named in the settings). */
  readonly configurationSetName: string;
  /** The function that writes each `Send` event into the mail log (`functions/mail-events`). */
  readonly recorder: StageflowFunction;
  /** The table the mail log's items live in. */
  readonly table: ITable;
}

/**
 * The cloud's mail log: the configuration set publishes each email's `Send` event (SES accepted it) to an encrypted
 * SNS topic, whose subscription invokes the recorder, which writes a `MAILSENT#<identity>` item. SNS retries the
 * delivery to the function; what it cannot deliver goes to an SQS queue an alarm watches. The recorder may only put
 * mail log items.
 */
export class MailSendEvents extends Construct {
  readonly topic: Topic;
  /** Send events SNS could not deliver to the recorder. */
  readonly failureQueue: Queue;

  constructor(scope: Construct, id: string, props: MailSendEventsProps) {
    super(scope, id);
    const key = new Key(this, 'TopicKey', {
      description: 'Stageflow: the SES send events of the mail log (recipients and subjects)',
      enableKeyRotation: true,
    });
    // SES publishes into the encrypted topic: it needs the key to encrypt the messages, for this account only.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('ses.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.topic = new Topic(this, 'SendEvents', { masterKey: key, enforceSSL: true });
    new ConfigurationSetEventDestination(this, 'SendEventsDestination', {
      configurationSet: ConfigurationSet.fromConfigurationSetName(this, 'ConfigurationSet', props.configurationSetName),
      destination: EventDestination.snsTopic(this.topic),
      events: [EmailSendingEvent.SEND],
    });
    this.failureQueue = failureQueue(
      this,
      'FailureQueue',
      'This queue is the dead-letter queue of the mail log subscription; an operator inspects it.',
    );
    this.topic.addSubscription(new LambdaSubscription(props.recorder.function, { deadLetterQueue: this.failureQueue }));
    // Only the mail log's own items, only put.
    props.recorder.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [props.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${mailSentKey('').pk}*`] },
        },
      }),
    );
  }
}
