import { genericSignatureHeader } from '../../functions/sources/generic.ts';
import { hubspotSignatureHeaders } from '../../functions/sources/hubspot.ts';

/**
 * A client of the local stack's HTTP API, the way a CRM, an approver and an API reader use it: signed webhooks, the
 * read API, the approval review page, and the approval emails local SES holds. The demo, the tests and the
 * benchmarks all talk to the stack through it.
 */

/** A generic webhook event as a CRM sends it. */
export interface GenericEvent {
  eventId: string;
  dealId: string;
  pipeline?: string;
  stage?: string;
  occurredAt?: string;
  dealName?: string;
  owner?: { email?: string; name?: string };
  fields?: Record<string, unknown>;
}

/** Who signs the webhooks: Stageflow's own sender side by default; tests pass signers written from the vendors' docs. */
export interface WebhookSigners {
  /** The `Stageflow-Signature` header value for `body`, signed at `t` (Unix seconds; now when unset). */
  generic(secret: string, body: string, t?: number): string;
  /** HubSpot's signature headers for a delivery of `body` to `url`, signed now. */
  hubspot(secret: string, url: string, body: string): Record<string, string>;
}

const STAGEFLOW_SIGNERS: WebhookSigners = { generic: genericSignatureHeader, hubspot: hubspotSignatureHeaders };

export interface ApiClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:3000`. */
  api: string;
  /** Local SES's base URL, where the approval emails are read. */
  ses?: string;
  /** The webhook secrets the stack checks. */
  secrets?: { generic?: string; hubspot?: string };
  signers?: WebhookSigners;
  /** Each request gives up after this long; never when unset. */
  timeoutMs?: number;
}

/** One answer, read in full. */
export interface ApiResponse {
  status: number;
  text: string;
  /** The parsed JSON body; undefined when the body is not JSON. */
  body: unknown;
  /** From just before the request until the body was read. */
  ms: number;
}

/** One email as local SES's `GET /store` returns it. */
export interface StoredEmail {
  destination: { to: string[]; cc?: string[] };
  subject: string;
  body: { text?: string; html?: string };
  at?: number;
}

/** The stack did not answer a request at all. */
export class StackUnreachableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StackUnreachableError';
  }
}

/** The stack answered, but not as a working stack does; the message says what it answered. */
export class UnexpectedAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnexpectedAnswerError';
  }
}

/** The headings an approver read when approving through the review page. */
export interface PageApproval {
  /** The review page's heading. */
  title: string;
  /** The heading of the page that confirms the decision. */
  confirmation: string;
}

export class ApiClient {
  readonly api: string;
  private readonly signers: WebhookSigners;

  constructor(private readonly options: ApiClientOptions) {
    this.api = options.api;
    this.signers = options.signers ?? STAGEFLOW_SIGNERS;
  }

  /** The body and headers of one generic webhook delivery, signed now or at `timestamp` (Unix seconds). */
  signedGeneric(
    event: GenericEvent | string,
    { secret = this.secret('generic'), timestamp }: { secret?: string; timestamp?: number } = {},
  ): { body: string; headers: Record<string, string> } {
    const body = typeof event === 'string' ? event : JSON.stringify(event);
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'stageflow-signature': this.signers.generic(secret, body, timestamp),
      },
    };
  }

  /** `POST /webhooks/generic`: one signed event (or a raw body, signed as it is). */
  postGeneric(
    event: GenericEvent | string,
    options: { secret?: string; timestamp?: number; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const { body, headers } = this.signedGeneric(event, options);
    return this.request('/webhooks/generic', { method: 'POST', headers: { ...headers, ...options.headers }, body });
  }

  /** `POST /webhooks/hubspot`: a batch of HubSpot webhooks v3 events, signed as HubSpot signs it. */
  postHubspot(events: unknown[], { secret = this.secret('hubspot') }: { secret?: string } = {}): Promise<ApiResponse> {
    const body = JSON.stringify(events);
    const headers = {
      'content-type': 'application/json',
      ...this.signers.hubspot(secret, this.url('/webhooks/hubspot'), body),
    };
    return this.request('/webhooks/hubspot', { method: 'POST', headers, body });
  }

  /** `GET /deals/{id}?pipeline=`: the deal, its approvals and its history. */
  getDeal(dealId: string, pipeline = 'default'): Promise<ApiResponse> {
    return this.request(`/deals/${encodeURIComponent(dealId)}?pipeline=${encodeURIComponent(pipeline)}`);
  }

  /** `GET /pipelines/{pipeline}/stages`: each stage's guidance. */
  stageGuidance(pipeline = 'default'): Promise<ApiResponse> {
    return this.request(`/pipelines/${encodeURIComponent(pipeline)}/stages`);
  }

  /** Every email local SES holds, oldest first. */
  async sentEmails(): Promise<StoredEmail[]> {
    if (!this.options.ses) throw new Error('the API client was given no local SES URL');
    const { status, body } = await this.request(`${this.options.ses}/store`);
    const emails = (body as { emails?: StoredEmail[] } | undefined)?.emails;
    if (status !== 200 || !Array.isArray(emails)) throw new Error(`${this.options.ses}/store answered ${status}`);
    return emails;
  }

  /** Posts a decision to the review link's approval with the link's token, as the review page's form does. */
  decideApproval(link: string, decision: 'approve' | 'reject', comment = ''): Promise<ApiResponse> {
    const url = new URL(link);
    const token = url.searchParams.get('token') ?? '';
    return this.request(`${url.origin}${url.pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, decision, comment }).toString(),
    });
  }

  /**
   * Opens the emailed review link as the approver would, then submits the page's own form with Approve pressed.
   * @throws UnexpectedAnswerError unless both answer 200.
   */
  async approveThroughPage(link: string, comment: string): Promise<PageApproval> {
    const page = await this.request(link);
    if (page.status !== 200) throw new UnexpectedAnswerError(`the review page answered ${page.status} instead of 200`);
    const { action, form } = approveSubmission(page.text, link, comment);
    const confirmation = await this.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    if (confirmation.status !== 200) {
      throw new UnexpectedAnswerError(`posting the approval answered ${confirmation.status} instead of 200`);
    }
    return { title: heading(page.text), confirmation: heading(confirmation.text) };
  }

  /** One request to a path of the API (or a full URL); fails only when nothing answers. */
  async request(pathOrUrl: string, init: RequestInit = {}): Promise<ApiResponse> {
    const url = this.url(pathOrUrl);
    const { timeoutMs } = this.options;
    const start = performance.now();
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { ...init, ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}) });
      text = await response.text();
    } catch (error) {
      // The path only: an approval link's query holds its token, which is never printed.
      const { origin, pathname } = new URL(url);
      throw new StackUnreachableError(
        `${init.method ?? 'GET'} ${origin}${pathname} did not answer — is the stack still running?`,
        { cause: error },
      );
    }
    const ms = performance.now() - start;
    return { status: response.status, text, body: parseJson(text), ms };
  }

  private url(pathOrUrl: string): string {
    return /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.api}${pathOrUrl}`;
  }

  private secret(kind: 'generic' | 'hubspot'): string {
    const secret = this.options.secrets?.[kind];
    if (secret === undefined) throw new Error(`the API client was given no ${kind} webhook secret`);
    return secret;
  }
}

/** The review links (with their tokens) in an approval email's text. */
export function reviewLinks(email: StoredEmail): string[] {
  return (email.body.text ?? '').match(/https?:\/\/\S+\/approvals\/\S+\?token=\S+/g) ?? [];
}

/** Whether the email's subject or text mentions `text` (a deal id, a role…). */
export function mentions(email: StoredEmail, text: string): boolean {
  return `${email.subject}\n${email.body.text ?? ''}`.includes(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function heading(html: string): string {
  return /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1]?.trim() ?? '(no title)';
}

/** The attributes of one HTML start tag, e.g. `<input type="hidden" name="token" value="…">`. */
function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, name = '', value = '']) => [name, value]));
}

/** What a browser would submit from the review page's form when the approver presses Approve. */
function approveSubmission(page: string, pageUrl: string, comment: string): { action: string; form: URLSearchParams } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page);
  const buttons = [...(form?.[2] ?? '').matchAll(/<button\b[^>]*>/gi)].map(([tag]) => attributes(tag));
  const approve = buttons.find((b) => b.value === 'approve');
  const action = attributes(form?.[1] ?? '').action;
  if (!form || !approve?.name || action === undefined) {
    throw new UnexpectedAnswerError(`the review page ${new URL(pageUrl).pathname} has no form with an Approve button`);
  }
  const fields = new URLSearchParams();
  for (const [tag] of form[2]?.matchAll(/<(?:input|textarea)\b[^>]*>/gi) ?? []) {
    const input = attributes(tag);
    if (input.name && input.name !== 'comment') fields.set(input.name, input.value ?? '');
  }
  fields.set('comment', comment);
  fields.set(approve.name, 'approve');
  return { action: new URL(action, pageUrl).href, form: fields };
}
