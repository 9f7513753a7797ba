import type { CrmSandbox, SandboxAnswer, SandboxRequest } from '../../../infra/local/crm-sandbox.ts';

/**
 * What the CRM test doubles add to a local CRM sandbox: every request recorded (credentials masked), the next
 * requests told to fail (429 with `Retry-After`, 5xx, 401, …) or redirected, requests held unanswered (a hanging
 * CRM), answers delayed so requests overlap, and the most requests answered at once.
 */

const SECRET_HEADERS = new Set(['authorization', 'x-api-token']);

/** One request a stand-in received. Credentials are masked: `Bearer [secret]`, `[secret]`. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON, the form fields of a form body (secrets masked), or the raw text. */
  body: unknown;
  /** Whether the request carried the credential the stand-in was started with. */
  authenticated: boolean;
  /** The status the stand-in answered. */
  status: number;
  /** When it arrived (`performance.now()` of the test process). */
  receivedAt: number;
}

/** A failure to answer instead of the real response. */
export type ScriptedFailure =
  | { status: 429; retryAfter?: string; rateLimitReset?: string }
  /** `stored`: the CRM did the work, then its answer was lost on the way (a gateway's 5xx). */
  | { status: 500 | 502 | 503; retryAfter?: string; stored?: boolean }
  | { status: 400 | 401 | 403 | 404 };

/** The test-facing surface every CRM stand-in shares. */
export interface CrmStandIn extends CrmSandbox {
  /** Every request received, oldest first. */
  readonly requests: ReceivedRequest[];
  /** The most requests the stand-in was answering at the same time. */
  readonly maxInFlight: number;
  /** The next `count` requests (to paths starting with `pathPrefix`, if given) answer `failure`. */
  failNext(count: number, failure: ScriptedFailure, pathPrefix?: string): void;
  /** Each answer is delayed this long, so concurrent requests overlap. */
  setLatency(ms: number): void;
  /** The requests to paths starting with `prefix`. */
  requestsTo(prefix: string): ReceivedRequest[];
  /** Forgets every scripted failure not yet used. */
  clearFailures(): void;
  /**
   * From now on requests (to paths starting with `pathPrefix`, if given) get no answer until {@link releaseHeld}: a
   * CRM that hangs. `stored`: it does the work of each request first, as a CRM whose answers are lost on the way back.
   */
  holdRequests(options?: { stored?: boolean; pathPrefix?: string }): void;
  /** Answers the held requests (their callers may have given up long ago) and answers new ones again. */
  releaseHeld(): void;
  /** The next `count` requests (to paths starting with `pathPrefix`, if given) are redirected to `location` (307). */
  redirectNext(count: number, location: string, pathPrefix?: string): void;
}

// biome-ignore lint/suspicious/noExplicitAny: TypeScript requires a mixin's base constructor to take `any[]`
type SandboxClass = abstract new (...args: any[]) => CrmSandbox;

/** `Sandbox` with failure scripting; each CRM says in `failureAnswer` how it words a scripted failure. */
export function withFailureScripting<Sandbox extends SandboxClass>(Sandbox: Sandbox) {
  abstract class ScriptedStandIn extends Sandbox implements CrmStandIn {
    readonly requests: ReceivedRequest[] = [];
    maxInFlight = 0;
    #failures: { failure: ScriptedFailure; pathPrefix: string | undefined }[] = [];
    #redirects: { location: string; pathPrefix: string | undefined }[] = [];
    #inFlight = 0;
    #latencyMs = 0;
    #hold:
      | { stored: boolean; pathPrefix: string | undefined; released: Promise<void>; release: () => void }
      | undefined;

    clearFailures(): void {
      this.#failures = [];
      this.#redirects = [];
    }

    holdRequests(options: { stored?: boolean; pathPrefix?: string } = {}): void {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      this.#hold = { stored: options.stored === true, pathPrefix: options.pathPrefix, released, release };
    }

    releaseHeld(): void {
      this.#hold?.release();
      this.#hold = undefined;
    }

    redirectNext(count: number, location: string, pathPrefix?: string): void {
      for (let i = 0; i < count; i += 1) this.#redirects.push({ location, pathPrefix });
    }

    override async close(): Promise<void> {
      this.releaseHeld();
      await super.close();
    }

    failNext(count: number, failure: ScriptedFailure, pathPrefix?: string): void {
      for (let i = 0; i < count; i += 1) this.#failures.push({ failure, pathPrefix });
    }

    setLatency(ms: number): void {
      this.#latencyMs = ms;
    }

    requestsTo(prefix: string): ReceivedRequest[] {
      return this.requests.filter((request) => request.path.startsWith(prefix));
    }

    /** The CRM's answer to a scripted failure, in its own error shape. */
    protected abstract failureAnswer(failure: ScriptedFailure): SandboxAnswer;

    protected override async answer(request: SandboxRequest): Promise<SandboxAnswer> {
      const receivedAt = performance.now();
      this.#inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
      try {
        const authenticated = this.authenticated(request);
        const hold = this.#hold && request.path.startsWith(this.#hold.pathPrefix ?? '') ? this.#hold : undefined;
        const redirect = this.#nextRedirect(request.path);
        const scripted = redirect || hold ? undefined : this.#nextFailure(request.path);
        let answer: SandboxAnswer;
        if (redirect) answer = { status: 307, headers: { location: redirect } };
        else if (hold) {
          answer = hold.stored ? this.route(request, authenticated) : { status: 504 };
          await hold.released;
        } else if (!scripted) answer = this.route(request, authenticated);
        else {
          if ('stored' in scripted && scripted.stored) this.route(request, authenticated);
          answer = this.failureAnswer(scripted);
        }
        if (this.#latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
        this.requests.push({
          method: request.method,
          path: request.path,
          headers: maskHeaders(request.headers),
          body: this.recordedBody(request),
          authenticated,
          status: answer.status,
          receivedAt,
        });
        return answer;
      } finally {
        this.#inFlight -= 1;
      }
    }

    #nextRedirect(path: string): string | undefined {
      const index = this.#redirects.findIndex(({ pathPrefix }) => !pathPrefix || path.startsWith(pathPrefix));
      return index >= 0 ? this.#redirects.splice(index, 1)[0]?.location : undefined;
    }

    #nextFailure(path: string): ScriptedFailure | undefined {
      const index = this.#failures.findIndex(({ pathPrefix }) => !pathPrefix || path.startsWith(pathPrefix));
      return index >= 0 ? this.#failures.splice(index, 1)[0]?.failure : undefined;
    }
  }
  return ScriptedStandIn;
}

function maskHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      if (!SECRET_HEADERS.has(name)) return [name, value];
      const scheme = value.match(/^(Bearer|OAuth) /i)?.[1];
      return [name, scheme ? `${scheme} [secret]` : '[secret]'];
    }),
  );
}
