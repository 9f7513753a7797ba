import type { MailLog } from '../adapters/mail-log.ts';
import { mailIdentity } from '../adapters/mailer.ts';
import type { LastDecision } from '../core/stored-deal.ts';

/** How long before its decision's time an email of the decision may have been accepted (clocks of two machines). */
const CLOCK_SLACK_MS = 5 * 60_000;

/**
 * Sends the one email of a decision's `effect` with its identity (deal, decision version, effect; the effect names
 * its one recipient). Only a re-run of the decision may repeat an email (an earlier run can have died between the
 * send and its mark), so only a re-run asks the mail log first, and an email the mail service accepted is not sent
 * again. A first run sends at once: it reads and writes nothing more.
 */
export async function sendUnlessAccepted(
  target: { pipeline: string; dealId: string; decided: LastDecision; effect: string; rerun: boolean },
  mailLog: MailLog,
  send: (identity: string) => Promise<void>,
): Promise<void> {
  const { pipeline, dealId, decided, effect } = target;
  const identity = mailIdentity(pipeline, dealId, decided.version, effect);
  const since = acceptedSince(decided.at);
  if (target.rerun && (await mailLog.accepted(identity, since))) return;
  await send(identity);
}

/** Since when the mail log is searched for the emails of something that happened `at` (clocks may differ). */
export function acceptedSince(at: string): Date {
  return new Date(Date.parse(at) - CLOCK_SLACK_MS);
}
