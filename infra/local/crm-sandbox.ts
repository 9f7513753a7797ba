import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmSource, CrmStageValue } from '../../functions/adapters/crm/types.ts';

/**
 * A local CRM API for write-back to talk to: a real HTTP server on 127.0.0.1 that checks credentials, answers with
 * the real API's status codes and body shapes, and keeps each deal's current stage and notes. Each CRM's routes live
 * in a subclass ({@link HubSpotSandbox} for `npm run demo`; the test doubles in test/support/crm/ build on this).
 */

const LOOPBACK = '127.0.0.1';

export interface CrmSandboxOptions {
  /** A fixed port; a free one otherwise. */
  port?: number;
  /** Log each request and its answer: `true` for stdout, or a function taking each line. */
  print?: boolean | ((line: string) => void);
}

/** What the sandbox answers one request with. */
export interface SandboxAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One request, read in full. */
export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  rawBody: string;
  /** The parsed body of a JSON request; undefined otherwise. */
  json: unknown;
}

export abstract class CrmSandbox {
  abstract readonly source: CrmSource;
  /** Deals by id: the CRM's current values (stage, notes). */
  protected readonly deals = new Map<string, Record<string, unknown>>();
  private server: Server | undefined;
  private baseUrl = '';

  constructor(private readonly options: CrmSandboxOptions = {}) {}

  /** The base URL clients are configured with, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    if (!this.server) throw new Error(`the ${this.source} stand-in is not started`);
    return this.baseUrl;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    // Port 0: the operating system picks a free port as it binds, so two servers never race for one.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.options.port ?? 0, host: LOOPBACK }, () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * A person moves the deal in the CRM's own page: its stage field (`dealstage`, `stage_id`, `status`, `StageName`)
   * takes the value; notes stay.
   */
  moveDeal(id: string | number, { field, value }: CrmStageValue): void {
    const deal = this.deals.get(String(id));
    if (!deal) throw new Error(`the ${this.source} stand-in has no deal ${id}`);
    deal[field] = value;
  }

  /** The deal's notes' text as stored (HTML for HubSpot and Pipedrive, Task descriptions for Salesforce). */
  notes(dealId: string): string[] {
    return (this.deals.get(dealId)?.notes as string[] | undefined) ?? [];
  }

  /** Whether the request carries the credential the sandbox was started with. */
  protected abstract authenticated(request: SandboxRequest): boolean;
  /** The CRM's own answer to the request. */
  protected abstract route(request: SandboxRequest, authenticated: boolean): SandboxAnswer;

  /** How a request is answered: by {@link route}; a subclass may answer otherwise. */
  protected async answer(request: SandboxRequest): Promise<SandboxAnswer> {
    return this.route(request, this.authenticated(request));
  }

  /** The request's body as logged: form bodies with their secrets masked. */
  protected recordedBody(request: SandboxRequest): unknown {
    return request.json ?? request.rawBody;
  }

  protected deal(id: string): Record<string, unknown> | undefined {
    return this.deals.get(id);
  }

  /** Stores a note (a Salesforce Task) with its id on the deal. */
  protected addNoteTo(dealId: string, noteId: string, text: string): void {
    const deal = this.deals.get(dealId);
    if (!deal) return;
    deal.notes = [...this.notes(dealId), text];
    deal.noteIds = [...this.noteIdsOf(dealId), noteId];
  }

  /** The ids of the deal's notes, oldest first. */
  protected noteIdsOf(dealId: string): string[] {
    return (this.deals.get(dealId)?.noteIds as string[] | undefined) ?? [];
  }

  /** The deal's notes as `{id, text}`, oldest first. */
  protected notesWithIds(dealId: string): { id: string; text: string }[] {
    const texts = this.notes(dealId);
    return this.noteIdsOf(dealId).map((id, i) => ({ id, text: texts[i] ?? '' }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = await readRequest(req);
    const answer = await this.answer(request);
    this.print(request, answer);
    const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      ...(body === '' ? {} : { 'content-type': 'application/json;charset=utf-8' }),
      ...answer.headers,
    });
    res.end(body);
  }

  private print(request: SandboxRequest, answer: SandboxAnswer): void {
    const { print } = this.options;
    if (!print) return;
    const body = JSON.stringify(this.recordedBody(request));
    const line = `[${this.source} stand-in] ${request.method} ${request.path} ${body ?? ''} → ${answer.status}`;
    if (typeof print === 'function') print(line);
    else console.log(line);
  }
}

async function readRequest(req: IncomingMessage): Promise<SandboxRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const rawBody = Buffer.concat(chunks).toString('utf8');
  const headers = Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : (value ?? '')]),
  );
  const url = new URL(req.url ?? '/', 'http://stand-in');
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers,
    rawBody,
    json: parseJson(rawBody, headers['content-type']),
  };
}

function parseJson(rawBody: string, contentType: string | undefined): unknown {
  if (rawBody === '' || !contentType?.includes('json')) return undefined;
  try {
    return JSON.parse(rawBody);
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The current time as the CRMs' APIs write it. */
export const nowIso = () => new Date().toISOString();
