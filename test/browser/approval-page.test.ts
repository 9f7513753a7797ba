import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { dealAt, getDeal, postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { launchChromium, openCspCheckedPage } from '../support/browser.ts';
import { reviewLink, waitForEmail } from '../support/mail.ts';

/**
 * The approval page in headless Chromium against the local stack, as an approver uses it: the link from the email in
 * the local SES store opens the page, reading it changes nothing, Approve records the decision and, once legal approves
 * too, the deal moves; a second visit says who decided. Screenshots go to test-output/screenshots.
 */

const SCREENSHOTS = 'test-output/screenshots';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const MAIL_CLIENT = { viewport: { width: 800, height: 900 } };

let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
});

const openPage = (options: typeof PHONE | typeof MAIL_CLIENT) => openCspCheckedPage(browser, options, contexts);

/** Presses a form button and waits for the page it leads to; returns that page's HTTP status. */
async function press(page: Page, name: 'Approve' | 'Reject'): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name }).click(),
  ]);
  await page.waitForLoadState();
  return response.status();
}

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

/** The value the page shows next to a label, as a person reads it off the page's list of facts. */
const fact = (page: Page, term: string) =>
  page.locator(`xpath=//dt[normalize-space()="${term}"]/following-sibling::dd[1]`);

/** The page is as wide as the screen: nothing to scroll sideways on a phone. */
const scrollsSideways = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

/** The approval requests of a deal at deliver that was then asked to close: the finance and legal review links. */
async function dealWaitingForApprovals(extraFields: Record<string, unknown> = {}) {
  const { ses } = stackUrls();
  const dealId = await dealAt('deliver', { extraFields });
  const close = await postGeneric({ eventId: uniqueId('E'), dealId, stage: 'closed_won', fields: EXIT_FIELDS.deliver });
  expect(close.body).toMatchObject({ outcome: 'pending_approval', stage: 'deliver' });
  const finance = await waitForEmail(ses, 'finance@example.com', [dealId]);
  const legal = await waitForEmail(ses, 'legal@example.com', [dealId]);
  return { dealId, finance, legal };
}

describe('the approval page in Chromium, on the local stack', () => {
  it('opens from the email, changes nothing until Approve, moves the deal once legal approves too', async () => {
    const { dealId, finance, legal } = await dealWaitingForApprovals({ amount: 48000, currency: 'EUR' });
    const financeLink = reviewLink(finance);

    const mail = await openPage(MAIL_CLIENT);
    await mail.page.setContent(finance.body.html ?? '');
    await mail.page.screenshot({ path: `${SCREENSHOTS}/approval-email.png`, fullPage: true });
    const button = mail.page.getByRole('link', { name: 'Review and decide' });
    expect(await button.isVisible()).toBe(true);
    expect(await button.getAttribute('href')).toBe(financeLink);

    const { page, blocked } = await openPage(PHONE);
    const before = await getDeal(dealId);
    expect((await page.goto(financeLink))?.status()).toBe(200);
    await page.screenshot({ path: `${SCREENSHOTS}/approval-review.png`, fullPage: true });
    expect(await heading(page)).toBe(`Approve or reject: Deal ${dealId}`);
    for (const [term, value] of [
      ['Deal', `Deal ${dealId} (${dealId})`],
      ['Owner', 'Riley Rep <rep@example.com>'],
      ['Amount', '€48,000.00'],
      ['Stage', 'Deliver/Finalize'],
      ['What you approve', 'Finance validates the signed contract details'],
    ] as const) {
      const shown = fact(page, term);
      expect(await shown.isVisible()).toBe(true);
      expect(await shown.textContent()).toBe(value);
    }
    expect(await page.getByRole('button', { name: 'Approve' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Reject' }).isVisible()).toBe(true);
    expect(await scrollsSideways(page)).toBe(false);
    const afterReading = await getDeal(dealId);
    expect(afterReading.body).toEqual(before.body);
    expect(afterReading.body.approvals.find((a) => a.role === 'finance')?.status).toBe('pending');
    expect(afterReading.body.pendingMove).toMatchObject({ to: 'closed_won' });

    await page.getByLabel('Comment for the deal owner').fill('Contract totals match the order form.');
    expect(await press(page, 'Approve')).toBe(200);
    await page.screenshot({ path: `${SCREENSHOTS}/approval-confirmed.png`, fullPage: true });
    expect(await heading(page)).toBe('Approved');
    expect(await page.locator('main').textContent()).toContain('Contract totals match the order form.');
    const afterFinance = await getDeal(dealId);
    expect(afterFinance.body.stage).toBe('deliver');
    expect(afterFinance.body.approvals.find((a) => a.role === 'finance')).toMatchObject({
      status: 'approved',
      decidedBy: expect.stringContaining('finance@example.com'),
    });

    expect((await page.goto(reviewLink(legal)))?.status()).toBe(200);
    expect(await press(page, 'Approve')).toBe(200);
    await page.screenshot({ path: `${SCREENSHOTS}/approval-deal-moved.png`, fullPage: true });
    expect(await heading(page)).toBe('Approved');
    expect(await page.locator('main').textContent()).toContain('The deal moved to Closed Won.');
    const won = await waitFor(async () => {
      const deal = await getDeal(dealId);
      return deal.body.stage === 'closed_won' ? deal.body : undefined;
    }, 'the deal to reach closed_won');
    expect(won.status).toBe('won');

    expect((await page.goto(financeLink))?.status()).toBe(409);
    await page.screenshot({ path: `${SCREENSHOTS}/approval-already-decided.png`, fullPage: true });
    expect(await heading(page)).toBe('Already decided');
    const decided = await page.locator('main').textContent();
    expect(decided).toContain('already approved by');
    expect(decided).toContain('finance@example.com');
    expect(blocked).toEqual([]);
  });

  it('refuses a rejection without a comment, changing nothing, and takes it once a comment is given', async () => {
    const { dealId, legal } = await dealWaitingForApprovals();
    const { page, blocked } = await openPage(PHONE);
    await page.goto(reviewLink(legal));
    const before = await getDeal(dealId);

    expect(await press(page, 'Reject')).toBe(400);
    await page.screenshot({ path: `${SCREENSHOTS}/approval-reject-without-comment.png`, fullPage: true });
    const alert = page.getByRole('alert');
    expect(await alert.textContent()).toContain('A rejection needs a comment');
    const box = await alert.boundingBox();
    expect(box && box.y + box.height).toBeLessThanOrEqual(PHONE.viewport.height);
    expect((await getDeal(dealId)).body).toEqual(before.body);

    await page.getByLabel('Comment for the deal owner').fill('The MSA version is outdated.');
    expect(await press(page, 'Reject')).toBe(200);
    expect(await heading(page)).toBe('Rejected');
    const after = await getDeal(dealId);
    expect(after.body).toMatchObject({ stage: 'deliver', pendingMove: null });
    expect(after.body.approvals.find((a) => a.role === 'legal')).toMatchObject({
      status: 'rejected',
      comment: 'The MSA version is outdated.',
    });
    expect(blocked).toEqual([]);
  });
});
