import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ENV, jsonEnv } from '../functions/adapters/environment.ts';
import { executionName } from '../functions/adapters/workflow-client.ts';
import { type ApiClient, mentions, reviewLinks } from '../infra/local/api-client.ts';
import type { LocalStack } from '../infra/local/stack.ts';
import { dealStory, timedDelivery } from './generic-webhook.ts';
import type { UsageMeter } from './usage-meter.ts';

/**
 * One deal driven identify → closed_won through the local stack as a CRM and two approvers would drive it, with the
 * workflow left to finish its work after each step (events of a real deal are days apart).
 */

const PIPELINE = 'default';
const APPROVERS = ['finance@example.com', 'legal@example.com'];
const WAIT_MS = 30_000;
/** How long no handler may run before the workflow counts as caught up. */
const QUIET_MS = 150;

/** The deal did not go as the default pipeline says it should: the benchmark cannot measure a won deal. */
export class WonDealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WonDealError';
  }
}

export interface WonDeal {
  dealId: string;
  executionArn: string;
  transitions: number;
  webhooks: number;
  /** Requests to the approval pages: each approver opens the page and posts the form. */
  approvalRequests: number;
}

/** The review link of the approval email to `to` about `dealId` (its query holds a token: never print it). */
export async function reviewLink(client: ApiClient, to: string, dealId: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    for (const email of await client.sentEmails()) {
      const [link] = reviewLinks(email);
      if (link && email.destination.to.includes(to) && mentions(email, dealId)) return link;
    }
    await sleep(200);
  }
  throw new WonDealError(`no approval email to ${to} about deal ${dealId} reached local SES in ${WAIT_MS / 1000} s`);
}

/** The deal's first execution (generation 1), once it has ended; fails unless it succeeded. */
async function finishedExecution(stepFunctionsUrl: string, dealId: string): Promise<string> {
  const sfn = new SFNClient({ endpoint: stepFunctionsUrl });
  const stateMachineArn = jsonEnv(ENV.stateMachines)[PIPELINE];
  const name = executionName(PIPELINE, dealId, 1);
  try {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000 }));
      const executionArn = executions.find((execution) => execution.name === name)?.executionArn;
      if (executionArn) {
        const { status, error, cause } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (status === 'SUCCEEDED') return executionArn;
        if (status !== 'RUNNING')
          throw new WonDealError(`the execution of ${dealId} ended ${status}: ${error} ${cause}`);
      }
      await sleep(100);
    }
    throw new WonDealError(`the execution of deal ${dealId} did not succeed within ${WAIT_MS / 1000} s`);
  } finally {
    sfn.destroy();
  }
}

/**
 * Drives one deal to `closed_won` with the Finance and Legal approvals, and counts its state transitions.
 * @throws WonDealError when an answer differs from what the default pipeline gives.
 */
export async function driveWonDeal(
  stack: LocalStack,
  client: ApiClient,
  meter: UsageMeter,
  id: string,
): Promise<WonDeal> {
  const dealId = `WON-${id}`;
  const events = dealStory(dealId, `won-${id}`);
  for (const [n, event] of events.entries()) {
    const { outcome } = await timedDelivery(client, event);
    const expected = n === events.length - 1 ? 'pending_approval' : 'applied';
    if (outcome !== expected) {
      throw new WonDealError(`event ${n} of deal ${dealId} (${event.stage ?? 'field update'}) answered ${outcome}`);
    }
    await meter.idle(QUIET_MS, WAIT_MS);
  }
  for (const approver of APPROVERS) {
    await client.approveThroughPage(await reviewLink(client, approver, dealId), '');
    await meter.idle(QUIET_MS, WAIT_MS);
  }
  const executionArn = await finishedExecution(stack.stepFunctionsUrl, dealId);
  await meter.idle(QUIET_MS, WAIT_MS);
  return {
    dealId,
    executionArn,
    transitions: stack.engine.transitions(executionArn),
    webhooks: events.length,
    approvalRequests: 2 * APPROVERS.length,
  };
}
