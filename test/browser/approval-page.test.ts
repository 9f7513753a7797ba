import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SESClient, SendEmailCommand } from '@aws-sdk/client-ses';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpResult } from '../../functions/http/responses.ts';
import { decideApproval, readApprovalForm, showApproval } from '../../functions/usecases/review-approval.ts';
import type { Services } from '../../functions/usecases/services.ts';
import { approvalServices, InMemoryDeals, useTestSecrets } from '../support/approval-fakes.ts';

/**
 * The approval page in a real browser, as an approver on a phone uses it: open the emailed link, read the deal,
 * press Reject without a comment (refused), then Approve. The pages are served by the real use case over in-memory
 * deals from a tiny HTTP server; SES and Step Functions are mocked.
 */

const SCREENSHOTS = 'test-output/screenshots';
const PHONE = { width: 390, height: 844 };

const ses = mockClient(SESClient);
const sfn = mockClient(SFNClient);
let deals: InMemoryDeals;
let services: Services;
let server: Server;
let origin: string;
let browser: Browser;
let page: Page;

/** Serves the approval routes the way the local HTTP host hands them to the handler. */
async function serve(req: IncomingMessage): Promise<HttpResult> {
  const url = new URL(req.url ?? '/', origin);
  const approvalId = decodeURIComponent(url.pathname.replace(/^\/approvals\//, ''));
  if (req.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const event = {
      headers: req.headers,
      body: Buffer.concat(chunks).toString('base64'),
      isBase64Encoded: true,
    } as unknown as APIGatewayProxyEventV2;
    return decideApproval(approvalId, readApprovalForm(event), services);
  }
  return showApproval(approvalId, url.searchParams.get('token') ?? undefined, services);
}

beforeAll(async () => {
  useTestSecrets();
  await mkdir(SCREENSHOTS, { recursive: true });
  server = createServer((req, res) => {
    serve(req).then(
      (result) => {
        res.writeHead(result.statusCode, result.headers as Record<string, string>);
        res.end(req.method === 'HEAD' ? undefined : result.body);
      },
      (error: unknown) => {
        res.writeHead(500).end(String(error));
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
});

beforeEach(async () => {
  ses.reset();
  sfn.reset();
  ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  sfn.on(SendTaskSuccessCommand).resolves({});
  deals = new InMemoryDeals();
  services = approvalServices(deals, () => new Date('2026-11-27T11:00:00.000Z'));
  page = await browser.newPage({ viewport: PHONE, deviceScaleFactor: 2 });
});

/** Presses a form button and waits for the page it leads to; returns that page's HTTP status. */
async function press(name: 'Approve' | 'Reject'): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name }).click(),
  ]);
  await page.waitForLoadState();
  return response.status();
}

describe('the approval page in a browser', () => {
  it('shows the deal, refuses a reject without a comment, then records an approval', async () => {
    const link = `${origin}/approvals/apr-finance?token=${deals.issueToken('apr-finance')}`;
    const response = await page.goto(link);
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Approve or reject: Acme rollout',
    );
    const details = await page.locator('dl').textContent();
    for (const shown of ['Acme rollout (D-1001)', 'Riley Rep <rep@example.com>', '€48,000.00', 'Deliver/Finalize']) {
      expect(details).toContain(shown);
    }
    expect(details).toContain('Finance validates the signed contract details');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-review.png`, fullPage: true });

    expect(await press('Reject')).toBe(400);
    await expect(page.getByRole('alert').textContent()).resolves.toContain('A rejection needs a comment');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-reject-without-comment.png`, fullPage: true });
    expect(deals.stored.deal.approvals[0]?.status).toBe('pending');

    await page.getByLabel('Comment for the deal owner').fill('Contract details checked.');
    expect(await press('Approve')).toBe(200);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Approved');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-confirmed.png`, fullPage: true });
    expect(deals.stored.deal.approvals[0]).toMatchObject({ status: 'approved', comment: 'Contract details checked.' });

    await page.goto(link);
    await expect(page.locator('main').textContent()).resolves.toContain('already approved by Finance');
    await page.screenshot({ path: `${SCREENSHOTS}/approval-already-decided.png`, fullPage: true });
  });

  it('records a rejection with its comment', async () => {
    await page.goto(`${origin}/approvals/apr-legal?token=${deals.issueToken('apr-legal')}`);
    await page.getByLabel('Comment for the deal owner').fill('The MSA version is outdated.');
    expect(await press('Reject')).toBe(200);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Rejected');
    expect(deals.stored.deal.approvals[1]).toMatchObject({
      status: 'rejected',
      comment: 'The MSA version is outdated.',
    });
  });

  it('shows nothing about the deal behind a wrong link', async () => {
    deals.issueToken('apr-finance');
    const response = await page.goto(`${origin}/approvals/apr-finance?token=guessed`);
    expect(response?.status()).toBe(404);
    const text = await page.locator('main').textContent();
    expect(text).toContain('This approval link is not valid.');
    expect(text).not.toContain('Acme');
  });
});
