import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import pRetry, { AbortError } from 'p-retry';
import type { CrmCallResult, CrmSource } from './types.ts';

/**
 * How one write-back call retries within itself. The write-back runs keep retrying across calls on their own schedule
 * (`functions/usecases/write-back/`); within a call only short blips are retried. Tests shorten these.
 */
export interface RetryPolicy {
  /** How long one call keeps retrying 429s, 5xx and network errors before it reports a retryable failure. */
  budgetMs: number;
  /** The first backoff when the CRM did not say when to come back; it doubles, with jitter, on each retry. */
  minDelayMs: number;
  /** The longest backoff between two attempts. */
  maxDelayMs: number;
  /** How long one HTTP exchange may take before it counts as a network error (and is retried). */
  requestTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  budgetMs: 15_000,
  minDelayMs: 1_000,
  maxDelayMs: 60_000,
  requestTimeoutMs: 10_000,
};

/**
 * How many requests one process sends a CRM at once and per window (p-queue, sliding window). A concurrency cap
 * alone does not bound the rate (fast answers free slots quickly), so both are capped, below the CRM's own limit.
 */
export interface RequestCap {
  concurrency: number;
  /** Requests started in any `intervalMs`; unset means no rate cap beyond `concurrency`. */
  intervalCap?: number;
  intervalMs?: number;
}

/** Told before each retry, e.g. to count `CrmSyncRetried`. */
export interface RetryNotice {
  source: CrmSource;
  /** The status that is retried; `0` for a network error. */
  status: number;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** How long the call waits before the next attempt. */
  delayMs: number;
  message: string;
}

/** Options every CRM client takes. */
export interface CrmClientOptions {
  retry?: Partial<RetryPolicy>;
  cap?: Partial<RequestCap>;
  onRetry?: (notice: RetryNotice) => void;
}

/** One HTTP request to a CRM. */
export interface CrmRequest {
  method: 'GET' | 'POST' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** A request whose body goes as JSON; `headers` are the CRM's own (its auth), JSON's are added. */
export interface CrmJsonRequest extends Omit<CrmRequest, 'body'> {
  body: unknown;
}

/** A CRM's answer, body already read: parsed JSON when it is JSON, else the text. */
export interface CrmResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A CRM API at a fixed base URL with fixed auth headers (HubSpot, Pipedrive): JSON requests by path. */
export class JsonApi {
  constructor(
    private readonly http: CrmHttp,
    private readonly baseUrl: string,
    private readonly headers: Record<string, string>,
  ) {}

  /** A call of one JSON exchange, retried as {@link CrmHttp.call} retries. */
  call(method: CrmJsonRequest['method'], path: string, body: unknown): Promise<CrmCallResult> {
    return this.http.call(() => this.send(method, path, body));
  }

  /** A `POST` of something the CRM offers no idempotency key for, made at most once ({@link CrmHttp.writeOnce}). */
  postOnce(path: string, body: unknown, find: () => Promise<boolean>, inDoubt?: boolean): Promise<CrmCallResult> {
    return this.http.writeOnce(() => this.send('POST', path, body), find, inDoubt);
  }

  /** One exchange, not retried by itself. */
  private send(method: CrmJsonRequest['method'], path: string, body?: unknown): Promise<CrmResponse> {
    return this.http.sendJson(this.request(method, path, body));
  }

  /** The body of one read for a {@link CrmHttp.writeOnce} look, as {@link CrmHttp.lookup} takes it. */
  async read(method: CrmJsonRequest['method'], path: string, body?: unknown): Promise<unknown> {
    return this.http.lookup(await this.send(method, path, body));
  }

  private request(method: CrmJsonRequest['method'], path: string, body: unknown): CrmJsonRequest {
    return { method, url: `${this.baseUrl}${path}`, headers: this.headers, body };
  }
}

/** What {@link CrmHttp.writeOnce} answers for a write the CRM already held. */
const FOUND: CrmResponse = { status: 200, headers: new Headers(), body: undefined };

/**
 * A CRM answered with a status that is not a success. `retryAfterMs` is when the CRM asked to be called again;
 * `overLimit` says the answer is the CRM's API limit in another status than `429` (Salesforce's `403`).
 */
export class CrmHttpError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly overLimit: boolean;
  constructor(status: number, message: string, retryAfterMs?: number, overLimit = false) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.overLimit = overLimit;
  }

  /** See {@link isRetryableFailure}. */
  get retryable(): boolean {
    return isRetryableFailure(this.status, this.overLimit);
  }
}

/** Whether a CRM's non-2xx answer is its API limit though its status is not `429`. */
export type OverLimitAnswer = (response: CrmResponse) => boolean;

/**
 * Whether a CRM's failure answer is worth another try: 429, 5xx and the CRM's API limit (`overLimit`, e.g.
 * Salesforce's `403 REQUEST_LIMIT_EXCEEDED`) are; every other status would answer the same again. A redirect (3xx) is
 * never followed and never retried: the credentials stay with the configured origin.
 */
export function isRetryableFailure(status: number, overLimit = false): boolean {
  return status === 429 || status >= 500 || overLimit;
}

/** The run a call belongs to ends at this signal: its requests and waits are cut off (see {@link withCallDeadline}). */
const callDeadline = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `work` with every CRM request and retry wait it makes cut off when `deadline` aborts: a write-back run that
 * holds a lease ends its CRM calls before the lease does, so no run writes after its successor started.
 */
export function withCallDeadline<T>(deadline: AbortSignal, work: () => Promise<T>): Promise<T> {
  return callDeadline.run(deadline, work);
}

/** The CRM could not be reached, or did not answer in time. Always retried. */
export class CrmNetworkError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

const MAX_MESSAGE = 300;

/**
 * When a CRM asks to be called again: `Retry-After` in seconds or as an HTTP date (any CRM, on 429 and 503), else
 * on a 429 Pipedrive's `x-ratelimit-reset` (seconds until its window resets).
 */
export function retryAfterMs(status: number, headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (status === 429 && reset && /^\d+(\.\d+)?$/.test(reset)) return Number(reset) * 1000;
  return undefined;
}

/**
 * The HTTP side every CRM client shares: each request passes the CRM's cap (a p-queue per client, so per process),
 * and each call is retried by p-retry within a time budget: exponential backoff with jitter, or exactly the wait
 * the CRM asked for. A call never throws; it answers a {@link CrmCallResult}. Known secrets are removed from every
 * message, so a CRM that echoes a credential cannot leak it into a log or a history entry.
 */
export class CrmHttp {
  private readonly queue: PQueue;
  private readonly policy: RetryPolicy;
  private readonly secrets = new Set<string>();
  private isOverLimit: OverLimitAnswer = () => false;

  constructor(
    readonly source: CrmSource,
    /** The short error message in a CRM error body, or undefined when the body has none. */
    private readonly errorMessage: (body: unknown) => string | undefined,
    defaultCap: RequestCap,
    private readonly options: CrmClientOptions = {},
  ) {
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    const cap = { ...defaultCap, ...options.cap };
    this.queue = new PQueue(
      cap.intervalCap && cap.intervalMs
        ? { concurrency: cap.concurrency, intervalCap: cap.intervalCap, interval: cap.intervalMs, strict: true }
        : { concurrency: cap.concurrency },
    );
  }

  /** A value (token, client secret) that must never appear in a result's message. */
  keepSecret(value: string): void {
    if (value !== '') this.secrets.add(value);
  }

  /** Answers that `isOverLimit` recognises are the CRM's API limit: retried with backoff within the budget, like a 429. */
  retryOverLimit(isOverLimit: OverLimitAnswer): void {
    this.isOverLimit = isOverLimit;
  }

  /** One HTTP exchange through the cap. Throws {@link CrmNetworkError} when no answer arrives. */
  send(request: CrmRequest): Promise<CrmResponse> {
    const deadline = callDeadline.getStore();
    return this.queue.add(async () => {
      const timeout = AbortSignal.timeout(this.policy.requestTimeoutMs);
      const signal = deadline ? AbortSignal.any([timeout, deadline]) : timeout;
      try {
        const { method, headers, body } = request;
        // A redirect is answered, never followed: fetch would send the credentials and the body to wherever it points.
        const response = await fetch(request.url, { method, headers, body, signal, redirect: 'manual' });
        const text = await response.text();
        if (isRedirect(response.status)) return redirected(request.url, response);
        return { status: response.status, headers: response.headers, body: parseBody(text) };
      } catch (error) {
        throw new CrmNetworkError(this.networkMessage(error), { cause: error });
      }
    });
  }

  /** One exchange through the cap with `body` sent as JSON and JSON asked for. Throws like {@link send}. */
  sendJson(request: CrmJsonRequest): Promise<CrmResponse> {
    return this.send({
      method: request.method,
      url: request.url,
      headers: { ...request.headers, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(request.body),
    });
  }

  /**
   * A write the CRM offers no idempotency key for, made at most once: `find` asks the CRM whether it already holds
   * it before any attempt that follows one whose answer was lost (no answer, or a 5xx after which the CRM may have
   * stored it), and before the first when the caller is `inDoubt`. Found, it counts as written.
   */
  writeOnce(write: () => Promise<CrmResponse>, find: () => Promise<boolean>, inDoubt = false): Promise<CrmCallResult> {
    let doubt = inDoubt;
    return this.call(async () => {
      if (doubt && (await find())) return FOUND;
      try {
        const response = await write();
        if (response.status >= 500) doubt = true;
        return response;
      } catch (error) {
        if (error instanceof CrmNetworkError) doubt = true;
        throw error;
      }
    });
  }

  /**
   * The body of a read made by {@link writeOnce}'s `find`: thrown to be retried on 429/5xx; undefined when the CRM
   * will not say (another 4xx, e.g. a token without the read scope), and then the write goes ahead as without a look.
   */
  lookup(response: CrmResponse): unknown {
    if (response.status >= 200 && response.status < 300) return response.body;
    const failure = this.failure(response);
    if (failure.retryable) throw failure;
    return undefined;
  }

  /** The error for a non-2xx answer, with the CRM's own message and the wait it asked for. */
  failure(response: CrmResponse): CrmHttpError {
    const redirect = isRedirect(response.status) ? stringField(response.body, REDIRECT_MESSAGE) : undefined;
    const message = redirect ?? this.errorMessage(response.body) ?? `HTTP ${response.status}`;
    const wait = retryAfterMs(response.status, response.headers);
    return new CrmHttpError(response.status, message, wait, this.isOverLimit(response));
  }

  /** Runs `operation` (one attempt: one or more requests) until it succeeds, fails for good, or the budget ends. */
  async call(operation: () => Promise<CrmResponse>): Promise<CrmCallResult> {
    let attempts = 0;
    const budgetEnd = performance.now() + this.policy.budgetMs;
    const attempt = async () => {
      attempts += 1;
      try {
        const response = await operation();
        if (response.status >= 200 && response.status < 300) return response;
        throw this.failure(response);
      } catch (error) {
        if (error instanceof CrmNetworkError || (error instanceof CrmHttpError && error.retryable)) throw error;
        throw new AbortError(error instanceof Error ? error : String(error));
      }
    };
    const runEnd = callDeadline.getStore();
    try {
      const response = await pRetry(attempt, {
        signal: runEnd,
        retries: Number.POSITIVE_INFINITY,
        maxRetryTime: this.policy.budgetMs,
        minTimeout: this.policy.minDelayMs,
        maxTimeout: this.policy.maxDelayMs,
        factor: 2,
        randomize: true,
        // A wait the CRM named replaces the backoff (it is slept in shouldRetry), so it consumes no backoff step.
        shouldConsumeRetry: ({ error }) => requestedWait(error) === undefined,
        shouldRetry: async ({ error, attemptNumber, retryDelay }) => {
          const asked = requestedWait(error);
          const delayMs = asked === undefined ? retryDelay : Math.max(asked, this.policy.minDelayMs);
          // The CRM asks to come back after the budget ends: waiting would only delay the failure.
          if (asked !== undefined && performance.now() + delayMs >= budgetEnd) return false;
          this.options.onRetry?.({
            source: this.source,
            status: error instanceof CrmHttpError ? error.status : 0,
            attempt: attemptNumber,
            delayMs,
            message: this.redact(error.message),
          });
          if (asked !== undefined) await sleep(delayMs, undefined, { signal: runEnd });
          return true;
        },
      });
      return { ok: true, status: response.status, attempts };
    } catch (error) {
      const status = error instanceof CrmHttpError ? error.status : 0;
      const message = error instanceof Error ? error.message : String(error);
      const failed: CrmCallResult = { ok: false, status, attempts, message: this.redact(message) };
      if (mayGoThroughLater(error)) failed.retryable = true;
      if (error instanceof CrmHttpError && error.retryAfterMs !== undefined) failed.retryAfterMs = error.retryAfterMs;
      return failed;
    }
  }

  private networkMessage(error: unknown): string {
    if (error instanceof Error && error.name === 'TimeoutError') {
      return `${this.source} did not answer within ${this.policy.requestTimeoutMs} ms`;
    }
    const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
    const detail = typeof cause?.code === 'string' ? cause.code : error instanceof Error ? error.message : 'failed';
    return `${this.source} unreachable: ${detail}`;
  }

  private redact(message: string): string {
    let safe = message;
    for (const secret of this.secrets) safe = safe.replaceAll(secret, '[redacted]');
    return safe.length > MAX_MESSAGE ? `${safe.slice(0, MAX_MESSAGE - 1)}…` : safe;
  }
}

/** A retryable status, no answer, or a call cut off by its run's end: a later call may go through. */
function mayGoThroughLater(error: unknown): boolean {
  if (error instanceof CrmHttpError) return error.retryable;
  if (error instanceof CrmNetworkError) return true;
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** Where {@link redirected} puts its message in the answer's body. */
const REDIRECT_MESSAGE = 'stageflowRedirect';

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/** A redirect, as an answer: the place it points to is named in the message, never visited. */
function redirected(url: string, response: Response): CrmResponse {
  const location = response.headers.get('location');
  const target = location && URL.canParse(location, url) ? new URL(location, url) : null;
  const where = target ? (target.origin === new URL(url).origin ? target.pathname : target.origin) : 'nowhere';
  return {
    status: response.status,
    headers: response.headers,
    body: { [REDIRECT_MESSAGE]: `redirected to ${where}; not followed (credentials go to the configured URL only)` },
  };
}

function requestedWait(error: Error): number | undefined {
  return error instanceof CrmHttpError ? error.retryAfterMs : undefined;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The array `name` of a JSON object body, or an empty one. */
export function listField(body: unknown, name: string): unknown[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  const value = (body as Record<string, unknown>)[name];
  return Array.isArray(value) ? value : [];
}

/** A JSON object's string property, if it has one. */
export function stringField(body: unknown, name: string): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
