import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

/**
 * Debian's headless Chromium (`/usr/bin/chromium`) as every browser test launches it: no sandbox, no GPU, and none of
 * the background work (updates, sync, networking) a test does not want.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * A fresh page in a context of its own (added to `contexts`, for the test to close) that collects in `blocked` what the
 * page's Content-Security-Policy made Chromium refuse (a style, a script, a form post): pages must work under their
 * own policy.
 */
export async function openCspCheckedPage(
  browser: Browser,
  options: BrowserContextOptions,
  contexts: BrowserContext[],
): Promise<{ page: Page; blocked: string[] }> {
  const context = await browser.newContext(options);
  contexts.push(context);
  const page = await context.newPage();
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) blocked.push(message.text());
  });
  return { page, blocked };
}
