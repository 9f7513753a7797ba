import { type Browser, chromium } from 'playwright-core';

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
