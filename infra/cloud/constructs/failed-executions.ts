import { Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { failureQueue } from './failure-queue.ts';

/** Properties of the failed-executions queue. */
export interface FailedExecutionsProps {
  /** The state machines whose failed, timed-out or aborted executions are kept. */
  readonly stateMachines: IStateMachine[];
}

/**
 * The dead-letter queue of the deal workflows: an EventBridge rule sends every execution that ends FAILED,
 * TIMED_OUT or ABORTED to an SQS queue, with the execution's ARN and input (pipeline, deal id, stage), for an
 * operator to inspect and re-drive.
 *
 * Why here and not as the workflow function's Lambda DLQ: Step Functions invokes that function synchronously
 * (`lambda:invoke`, with or without `.waitForTaskToken`), and a Lambda DLQ only receives failed asynchronous
 * invocations, so it would stay empty. A task error that the state machine does not catch fails the execution,
 * and that is what this rule catches, whatever the cause.
 */
export class FailedExecutions extends Construct {
  readonly queue: Queue;

  constructor(scope: Construct, id: string, props: FailedExecutionsProps) {
    super(scope, id);
    this.queue = failureQueue(
      this,
      'Queue',
      'This queue is the dead-letter queue of the deal workflows; nothing consumes it automatically.',
    );
    new Rule(this, 'Rule', {
      description: 'Stageflow deal workflow executions that failed, timed out or were aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: props.stateMachines.map((stateMachine) => stateMachine.stateMachineArn),
        },
      },
      targets: [new SqsQueue(this.queue)],
    });
  }
}
