import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { StoredEmail } from '../../infra/local/api-client.ts';
import { apiClient, waitFor } from './api.ts';

export type { StoredEmail };

export function sentEmails(sesUrl: string): Promise<StoredEmail[]> {
  return apiClient({ ses: sesUrl }).sentEmails();
}

/** Waits for an email to `to` whose text mentions every given string (a deal id, a role…). */
export async function waitForEmail(sesUrl: string, to: string, mentions: string[]): Promise<StoredEmail> {
  return waitFor(
    async () => {
      const emails = await sentEmails(sesUrl);
      return emails.find(
        (email) =>
          email.destination.to.includes(to) &&
          mentions.every((m) => `${email.subject}\n${email.body.text ?? ''}`.includes(m)),
      );
    },
    `an email to ${to} mentioning ${mentions.join(', ')}`,
  );
}

/** The one review link of an approval email. */
export function reviewLink(email: StoredEmail): string {
  const links = (email.body.text ?? '').match(/https?:\/\/\S+\/approvals\/\S+/g) ?? [];
  if (links.length !== 1) throw new Error(`expected exactly one review link, found ${links.length}`);
  return links[0] as string;
}

/** The approval a review link is for (the link's path names it; each email's token differs). */
export function approvalIdOf(link: string): string {
  return decodeURIComponent(new URL(link).pathname.replace(/^\/approvals\//, ''));
}

/** Approves or rejects through the review page's form, as the browser would post it. */
export async function decide(link: string, decision: 'approve' | 'reject', comment = '') {
  const { status, text } = await apiClient().decideApproval(link, decision, comment);
  return { status, html: text };
}

/**
 * For a deal taken to Deliver/Finalize by the default story: waits for its Finance, Legal and owner emails there,
 * gives the outbox and the workflow a moment for anything more, and expects every email of its way there exactly
 * once (each stage's owner notice, the owner's approval notice, one request to each approver). Answers the deal's
 * emails.
 */
export async function expectDealEmailsOnce(sesUrl: string, dealId: string): Promise<StoredEmail[]> {
  await waitForEmail(sesUrl, 'finance@example.com', [dealId]);
  await waitForEmail(sesUrl, 'legal@example.com', [dealId]);
  await waitForEmail(sesUrl, 'rep@example.com', [dealId, 'Deliver/Finalize']);
  // Whatever else the outbox and the resumed workflow would still do has a moment to happen.
  await sleep(1500);
  const mail = (await sentEmails(sesUrl)).filter((email) => `${email.subject}\n${email.body.text}`.includes(dealId));
  const count = (to: string, subject: RegExp) =>
    mail.filter((email) => email.destination.to.includes(to) && subject.test(email.subject)).length;
  expect(count('finance@example.com', /.*/)).toBe(1);
  expect(count('legal@example.com', /.*/)).toBe(1);
  for (const stage of ['Identify', 'Qualify', 'Propose', 'Negotiate', 'Deliver/Finalize']) {
    expect(count('rep@example.com', new RegExp(`is now in ${stage.replace('/', '\\/')}$`))).toBe(1);
  }
  expect(count('rep@example.com', /^Approval requested/)).toBe(1);
  return mail;
}
