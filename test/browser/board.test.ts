import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { postGeneric, stackUrls, uniqueId, waitFor } from '../support/api.ts';
import { launchChromium, openCspCheckedPage } from '../support/browser.ts';
import { decide, reviewLink, waitForEmail } from '../support/mail.ts';

/**
 * The board's three pages in headless Chromium on the local stack, with deals in every stage: content, escaping (a
 * deal named like a script never runs), the pages' own Content-Security-Policy, keyboard and phone use. Screenshots
 * go to test-output/screenshots; the ones in docs/ come from board-people.test.ts, whose deals are realistic.
 */

const SCREENSHOTS = 'test-output/screenshots';
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1440, height: 900 } };
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
const OPEN_STAGES = ['identify', 'qualify', 'propose', 'negotiate', 'deliver'];
const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

let browser: Browser;
const contexts: BrowserContext[] = [];
let deals: Awaited<ReturnType<typeof dealsInEveryStage>>;

/** Moves a new deal through `stages`, entering stage i `days[i]` days ago, each move bringing the exit fields. */
async function journey(input: {
  stages: string[];
  days: number[];
  name: string;
  owner: { email: string; name: string };
  fields?: Record<string, unknown>;
}): Promise<string> {
  const dealId = uniqueId('B');
  let fields: Record<string, unknown> = { ...input.fields };
  for (const [index, stage] of input.stages.entries()) {
    const result = await postGeneric({
      eventId: uniqueId('E'),
      dealId,
      stage,
      occurredAt: daysAgo(input.days[index] ?? 0),
      dealName: input.name,
      owner: input.owner,
      fields,
    });
    if (result.body.outcome !== 'applied') throw new Error(`${dealId} → ${stage}: ${JSON.stringify(result.body)}`);
    fields = { ...EXIT_FIELDS[stage] };
  }
  return dealId;
}

async function dealsInEveryStage() {
  const riley = { email: 'riley@example.com', name: 'Riley Rep' };
  const sam = { email: 'sam@example.com', name: 'Sam Seller' };
  const path = (to: string) => OPEN_STAGES.slice(0, OPEN_STAGES.indexOf(to) + 1);
  const made: Record<string, string> = {};
  const specs: [string, string, typeof riley, number[], number][] = [
    ['hostile', 'qualify', riley, [70, 40], 12000],
    ['identifyFresh', 'identify', sam, [3], 8000],
    ['identifyStale', 'identify', riley, [30], 5000],
    ['propose', 'propose', sam, [60, 50, 10], 42000],
    ['negotiate', 'negotiate', riley, [80, 60, 40, 20], 95000],
    ['deliver', 'deliver', sam, [90, 70, 50, 30, 2], 130000],
  ];
  for (const [key, stage, owner, days, amount] of specs) {
    made[key] = await journey({
      stages: path(stage),
      days,
      owner,
      name: key === 'hostile' ? HOSTILE : `${owner.name.split(' ')[0]}'s ${stage} deal`,
      fields: { amount, currency: 'EUR' },
    });
  }
  made.lost = await journey({
    stages: ['identify', 'qualify'],
    days: [40, 30],
    owner: sam,
    name: 'Lost to a competitor',
    fields: { amount: 20000, currency: 'EUR' },
  });
  await postGeneric({
    eventId: uniqueId('E'),
    dealId: made.lost as string,
    stage: 'closed_lost',
    occurredAt: daysAgo(5),
    fields: { lostReason: 'Chose a competitor' },
  });
  // A won deal: deliver → closed_won waits for Finance and Legal, approved from their emails.
  const won = await journey({
    stages: path('deliver'),
    days: [100, 80, 60, 40, 20],
    owner: riley,
    name: 'Won rollout',
    fields: { amount: 70000, currency: 'EUR' },
  });
  await postGeneric({
    eventId: uniqueId('E'),
    dealId: won,
    stage: 'closed_won',
    occurredAt: daysAgo(4),
    fields: EXIT_FIELDS.deliver,
  });
  for (const approver of ['finance@example.com', 'legal@example.com']) {
    const email = await waitForEmail(stackUrls().ses, approver, [won]);
    expect((await decide(reviewLink(email), 'approve')).status).toBe(200);
  }
  await waitFor(async () => {
    const response = await fetch(`${stackUrls().api}/deals/${won}?pipeline=default`);
    return ((await response.json()) as { stage: string }).stage === 'closed_won' ? true : undefined;
  }, 'the won deal to close');
  made.won = won;
  return made;
}

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
  deals = await dealsInEveryStage();
}, 120_000);

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
});

/** A page that records what the Content-Security-Policy blocked and whether any dialog (an injected alert) opened. */
async function openPage(options: typeof PHONE | typeof DESKTOP) {
  const { page, blocked } = await openCspCheckedPage(browser, options, contexts);
  page.on('dialog', (dialog) => {
    blocked.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { page, blocked };
}

const url = (path: string) => `${stackUrls().api}${path}`;
const pwned = (page: Page) => page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null);
const scrollsSideways = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

describe('the board in Chromium, on the local stack', () => {
  it('shows every stage as a column with its cards, escapes a hostile deal name and opens a deal by keyboard', async () => {
    const { page, blocked } = await openPage(DESKTOP);
    expect((await page.goto(url('/board?pipeline=default')))?.status()).toBe(200);
    await page.screenshot({ path: `${SCREENSHOTS}/board-desktop.png`, fullPage: true });
    const columns = await page.locator('section.column h2').allTextContents();
    expect(columns).toEqual([
      'Identify',
      'Qualify',
      'Propose',
      'Negotiate',
      'Deliver/Finalize',
      'Closed Won',
      'Closed Lost',
    ]);
    for (const id of Object.values(deals)) expect(await page.locator(`a[href^="/board/deals/${id}?"]`).count()).toBe(1);

    const hostile = page.locator('li.card', { has: page.locator(`a[href^="/board/deals/${deals.hostile}?"]`) });
    expect(await hostile.locator('a').textContent()).toBe(HOSTILE);
    expect(await hostile.getAttribute('class')).toContain('is-stale');
    expect(await hostile.textContent()).toMatch(/40 days in stage/);
    expect(await pwned(page)).toBeNull();

    const fresh = page.locator('li.card', { has: page.locator(`a[href^="/board/deals/${deals.identifyFresh}?"]`) });
    expect(await fresh.getAttribute('class')).not.toContain('is-stale');
    const deliver = page.locator('section.column', { has: page.getByRole('heading', { name: 'Deliver/Finalize' }) });
    expect(await deliver.textContent()).toMatch(/2 pending approvals/);

    // Keyboard only: tab to the hostile deal's link and press Enter.
    let focused = '';
    for (let presses = 0; presses < 80 && !focused.includes(deals.hostile as string); presses++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('href') ?? '');
    }
    expect(focused).toContain(`/board/deals/${deals.hostile}`);
    await Promise.all([page.waitForURL(/\/board\/deals\//), page.keyboard.press('Enter')]);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(HOSTILE);
    expect(await pwned(page)).toBeNull();
    expect(blocked).toEqual([]);
  });

  it('filters the board by owner and by stale deals, and fits a phone', async () => {
    const { page, blocked } = await openPage(PHONE);
    await page.goto(url('/board?pipeline=default&owner=RILEY%40example.com'));
    await page.getByLabel('Stale only').check();
    await Promise.all([page.waitForURL(/stale=1/), page.getByRole('button', { name: 'Filter' }).click()]);
    await page.screenshot({ path: `${SCREENSHOTS}/board-phone-filtered.png`, fullPage: true });
    expect(page.url()).toMatch(/owner=riley%40example\.com/i);
    const links = await page.locator('li.card a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    expect(links.some((href) => href.includes(deals.identifyStale as string))).toBe(true);
    expect(links.some((href) => href.includes(deals.hostile as string))).toBe(true);
    for (const other of [deals.identifyFresh, deals.propose, deals.won]) {
      expect(links.some((href) => href.includes(other as string))).toBe(false);
    }
    expect(await page.locator('li.card:not(.is-stale)').count()).toBe(0);
    expect(await scrollsSideways(page)).toBe(false);
    expect(blocked).toEqual([]);
  });

  it('shows a deal with its guidance, checklist, approvals and a timeline with the refusal', async () => {
    await postGeneric({
      eventId: uniqueId('E'),
      dealId: deals.negotiate as string,
      stage: 'deliver',
      fields: { signatureDate: '2026-12-20' },
    });
    const { page, blocked } = await openPage(PHONE);
    expect((await page.goto(url(`/board/deals/${deals.negotiate}?pipeline=default`)))?.status()).toBe(200);
    await page.screenshot({ path: `${SCREENSHOTS}/board-deal.png`, fullPage: true });
    expect(await page.getByRole('heading', { name: 'Negotiate: what it means' }).isVisible()).toBe(true);
    const checklist = await page.locator('.checklist li').allTextContents();
    expect(checklist).toHaveLength(3);
    expect(checklist.find((line) => line.includes('signature timeline'))).toMatch(/^Met.*now: 2026-12-20/);
    expect(checklist.find((line) => line.includes('kick-off'))).toMatch(/^Open.*now: not set/);
    const refusal = page.locator('.timeline li.refused').first();
    expect(await refusal.textContent()).toMatch(/Move Negotiate → Deliver\/Finalize[\s\S]*To leave Negotiate/);
    expect(await scrollsSideways(page)).toBe(false);

    await page.goto(url(`/board/deals/${deals.deliver}?pipeline=default`));
    const approvals = await page.locator('table tbody tr').allTextContents();
    expect(approvals.join('\n')).toMatch(/Finance[\s\S]*Pending/);
    expect(blocked).toEqual([]);
  });

  it('shows the insights as charts: the funnel, days in stage, win rate, cycle time and lost reasons', async () => {
    const { page, blocked } = await openPage(DESKTOP);
    expect((await page.goto(url(`/board/insights?pipeline=default&from=${daysAgo(120).slice(0, 10)}`)))?.status()).toBe(
      200,
    );
    await page.screenshot({ path: `${SCREENSHOTS}/board-insights.png`, fullPage: true });
    expect(await page.locator('svg[role="img"]').count()).toBe(3);
    for (const chart of await page.locator('svg[role="img"]').all()) expect(await chart.isVisible()).toBe(true);
    const funnel = (await page.locator('#chart-funnel-title').textContent()) ?? '';
    expect(funnel).toMatch(/Identify \d+ · \d+% to next/);
    expect(await page.locator('#chart-lost-title').textContent()).toContain('Chose a competitor');
    expect(await page.locator('.tile').first().textContent()).toMatch(/Win rate\d+%/);
    expect(await page.locator('.tile').nth(1).textContent()).toMatch(/Median cycle to won\d+ days/);
    expect(blocked).toEqual([]);

    const phone = await openPage(PHONE);
    await phone.page.goto(url('/board/insights?pipeline=default'));
    await phone.page.screenshot({ path: `${SCREENSHOTS}/board-insights-phone.png`, fullPage: true });
    expect(await scrollsSideways(phone.page)).toBe(false);
  });
});
