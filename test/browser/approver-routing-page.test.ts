import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { dealAt, waitFor } from '../support/api.ts';
import { launchChromium, openCspCheckedPage } from '../support/browser.ts';
import { reviewLink, sentEmails } from '../support/mail.ts';
import { type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * The approval pages of a delegate and of a group's members in headless Chromium, on a stack whose Legal is away
 * (delegated to counsel since yesterday, until tomorrow) and whose Finance is a group where any member decides.
 */

const SCREENSHOTS = 'test-output/screenshots';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DAY = 86_400_000;

let browser: Browser;
let stack: StackProcess;
const contexts: BrowserContext[] = [];
const configDir = mkdtempSync(join(tmpdir(), 'stageflow-desk-pages-'));

beforeAll(async () => {
  const config = parse(readFileSync('stage-config/default.yaml', 'utf8')) as { approvers: Record<string, unknown> };
  const day = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);
  config.approvers.finance = { name: 'Finance', members: ['ana@example.com', 'ben@example.com'] };
  config.approvers.legal = {
    name: 'Legal',
    email: 'legal@example.com',
    delegates: [{ to: 'counsel@example.com', from: day(-1), until: day(1) }],
  };
  writeFileSync(join(configDir, 'default.yaml'), stringify(config));
  await mkdir(SCREENSHOTS, { recursive: true });
  [browser, stack] = await Promise.all([
    launchChromium(),
    startStackProcess({ STAGEFLOW_CONFIG: configDir }, ['--in-memory']),
  ]);
}, 180_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(configDir, { recursive: true, force: true });
});

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();
const fact = (page: Page, term: string) =>
  page.locator(`xpath=//dt[normalize-space()="${term}"]/following-sibling::dd[1]`);

async function linkTo(to: string, dealId: string): Promise<string> {
  const email = await waitFor(
    async () =>
      (await sentEmails(stack.urls.ses)).find(
        (e) => e.destination.to.includes(to) && (e.body.text ?? '').includes(dealId),
      ),
    `the approval email to ${to}`,
  );
  return reviewLink(email);
}

describe('approval pages for delegates and group members', () => {
  it('shows a delegate on whose behalf they decide, and a member who came second who decided', async () => {
    const dealId = await dealAt('deliver', { api: stack.urls.api });
    const { page, blocked } = await openCspCheckedPage(browser, PHONE, contexts);

    expect((await page.goto(await linkTo('counsel@example.com', dealId)))?.status()).toBe(200);
    expect(await page.locator('main').textContent()).toContain('on behalf of Legal <legal@example.com>');
    expect(await fact(page, 'On behalf of').textContent()).toBe('Legal <legal@example.com>');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-delegate.png`, fullPage: true });
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    await page.waitForLoadState();
    expect(await heading(page)).toBe('Approved');
    expect(await fact(page, 'On behalf of').textContent()).toBe('Legal <legal@example.com>');

    const [ana, ben] = [await linkTo('ana@example.com', dealId), await linkTo('ben@example.com', dealId)];
    expect((await page.goto(ben))?.status()).toBe(200);
    expect(await fact(page, 'Group decision').textContent()).toBe('The first member to decide decides for the group');
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    await page.waitForLoadState();
    expect(await heading(page)).toBe('Approved');

    expect((await page.goto(ana))?.status()).toBe(409);
    expect(await heading(page)).toBe('Already decided');
    expect(await page.locator('main').textContent()).toContain('already approved by ben@example.com');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-group-decided.png`, fullPage: true });
    expect(blocked).toEqual([]);
  }, 120_000);
});
