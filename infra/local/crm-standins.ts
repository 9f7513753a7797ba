import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CrmSource, CrmStageValue } from '../../functions/adapters/crm/types.ts';

/**
 * Local stand-ins for the three CRM APIs write-back calls (CONTRACT section 9): real HTTP servers on 127.0.0.1 that
 * check credentials and answer with the real APIs' status codes and body shapes, keep each deal's current stage,
 * record every request, and can be told to fail the next requests (429 with `Retry-After`, 5xx, 401).
 */

const LOOPBACK = '127.0.0.1';
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

export interface StandInOptions {
  /** A fixed port (the demo prints it); a free one otherwise. */
  port?: number;
  /** Log each request and its answer: `true` for stdout, or a function taking each line. */
  print?: boolean | ((line: string) => void);
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface Incoming {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  rawBody: string;
  json: unknown;
}

/** The shared server: records, scripts failures, measures concurrency; each CRM answers in {@link route}. */
export abstract class CrmStandIn {
  abstract readonly source: CrmSource;
  /** Every request received, oldest first. */
  readonly requests: ReceivedRequest[] = [];
  /** Deals by id: the CRM's current values (stage, notes). */
  protected readonly deals = new Map<string, Record<string, unknown>>();
  private readonly failures: { failure: ScriptedFailure; pathPrefix: string | undefined }[] = [];
  private server: Server | undefined;
  private baseUrl = '';
  private inFlight = 0;
  private latencyMs = 0;
  /** The most requests the stand-in was answering at the same time. */
  maxInFlight = 0;

  constructor(private readonly options: StandInOptions = {}) {}

  /** The base URL clients are configured with, e.g. `http://127.0.0.1:40123`. */
  get url(): string {
    if (!this.server) throw new Error(`the ${this.source} stand-in is not started`);
    return this.baseUrl;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    // Port 0: the operating system picks a free port as it binds, so two stand-ins never race for one.
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

  /** The next `count` requests (to paths starting with `pathPrefix`, if given) answer `failure`. */
  failNext(count: number, failure: ScriptedFailure, pathPrefix?: string): void {
    for (let i = 0; i < count; i += 1) this.failures.push({ failure, pathPrefix });
  }

  /** Each answer is delayed this long, so concurrent requests overlap. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** The requests to paths starting with `prefix`. */
  requestsTo(prefix: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.path.startsWith(prefix));
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

  protected abstract authenticated(incoming: Incoming): boolean;
  protected abstract route(incoming: Incoming, authenticated: boolean): Answer;
  protected abstract failureAnswer(failure: ScriptedFailure): Answer;
  /** The request's body as recorded: form bodies with their secrets masked. */
  protected recordedBody(incoming: Incoming): unknown {
    return incoming.json ?? incoming.rawBody;
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
    const receivedAt = performance.now();
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : (value ?? ''),
        ]),
      );
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const incoming: Incoming = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers,
        rawBody,
        json: parseJson(rawBody, headers['content-type']),
      };
      const authenticated = this.authenticated(incoming);
      const index = this.failures.findIndex(({ pathPrefix }) => !pathPrefix || incoming.path.startsWith(pathPrefix));
      const scripted = index >= 0 ? this.failures.splice(index, 1)[0] : undefined;
      let answer: Answer;
      if (!scripted) answer = this.route(incoming, authenticated);
      else {
        if ('stored' in scripted.failure && scripted.failure.stored) this.route(incoming, authenticated);
        answer = this.failureAnswer(scripted.failure);
      }
      if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
      this.requests.push({
        method: incoming.method,
        path: incoming.path,
        headers: maskHeaders(headers),
        body: this.recordedBody(incoming),
        authenticated,
        status: answer.status,
        receivedAt,
      });
      this.print(incoming, answer);
      const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        ...(body === '' ? {} : { 'content-type': 'application/json;charset=utf-8' }),
        ...answer.headers,
      });
      res.end(body);
    } finally {
      this.inFlight -= 1;
    }
  }

  private print(incoming: Incoming, answer: Answer): void {
    const { print } = this.options;
    if (!print) return;
    const body = JSON.stringify(this.recordedBody(incoming));
    const line = `[${this.source} stand-in] ${incoming.method} ${incoming.path} ${body ?? ''} → ${answer.status}`;
    if (typeof print === 'function') print(line);
    else console.log(line);
  }
}

function parseJson(rawBody: string, contentType: string | undefined): unknown {
  if (rawBody === '' || !contentType?.includes('json')) return undefined;
  try {
    return JSON.parse(rawBody);
  } catch {
    return undefined;
  }
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

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const now = () => new Date().toISOString();

// ---------------------------------------------------------------------------------------------------------------
// HubSpot CRM v3

export interface HubSpotStandInOptions extends StandInOptions {
  /** The private app token it accepts. */
  accessToken?: string;
  /** The `dealstage` values it accepts (400 VALIDATION_ERROR otherwise); any value when unset. */
  dealstages?: string[];
}

/** HubSpot: `PATCH /crm/v3/objects/deals/{id}`, `POST /crm/v3/objects/notes`; errors `{status, message, correlationId, category}`. */
export class HubSpotStandIn extends CrmStandIn {
  readonly source = 'hubspot';
  readonly accessToken: string;
  private nextId = 9_000_000;

  constructor(private readonly hubspot: HubSpotStandInOptions = {}) {
    super(hubspot);
    this.accessToken = hubspot.accessToken ?? 'pat-na1-stand-in-token';
  }

  /** Creates (or resets) a deal in `dealstage`. */
  addDeal(id: string, dealstage: string): void {
    this.deals.set(id, { dealstage, notes: [] });
  }

  /** The deal's current `dealstage`. */
  stageOf(id: string): string | undefined {
    return this.deal(id)?.dealstage as string | undefined;
  }

  protected authenticated({ headers }: Incoming): boolean {
    return headers.authorization === `Bearer ${this.accessToken}`;
  }

  protected route({ method, path, json }: Incoming, authenticated: boolean): Answer {
    if (!authenticated) {
      return hubspotError(
        401,
        'INVALID_AUTHENTICATION',
        'Authentication credentials not found. This API supports OAuth 2.0 authentication.',
      );
    }
    const dealPath = path.match(/^\/crm\/v3\/objects\/deals\/([^/]+)$/);
    if (method === 'PATCH' && dealPath) return this.updateDeal(decodeURIComponent(dealPath[1] as string), json);
    if (method === 'POST' && path === '/crm/v3/objects/notes') return this.createNote(json);
    const dealNotes = path.match(/^\/crm\/v4\/objects\/deals\/([^/]+)\/associations\/notes$/);
    if (method === 'GET' && dealNotes) return this.dealNotes(decodeURIComponent(dealNotes[1] as string));
    if (method === 'POST' && path === '/crm/v3/objects/notes/batch/read') return this.readNotes(json);
    return hubspotError(404, 'OBJECT_NOT_FOUND', `No route for ${method} ${path}`);
  }

  private updateDeal(id: string, body: unknown): Answer {
    const deal = this.deal(id);
    if (!deal) return hubspotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
    const properties = isObject(body) && isObject(body.properties) ? body.properties : undefined;
    if (!properties) return hubspotError(400, 'VALIDATION_ERROR', 'Invalid input JSON: properties is required');
    const { dealstage } = properties;
    if (dealstage !== undefined && this.hubspot.dealstages && !this.hubspot.dealstages.includes(String(dealstage))) {
      return hubspotError(
        400,
        'VALIDATION_ERROR',
        `Property values were not valid: [{"isValid":false,"message":"${String(dealstage)} was not one of the allowed options","error":"INVALID_OPTION","name":"dealstage"}]`,
      );
    }
    if (dealstage !== undefined) deal.dealstage = String(dealstage);
    return {
      status: 200,
      body: {
        id,
        properties: { dealstage: deal.dealstage, hs_lastmodifieddate: now(), hs_object_id: id },
        createdAt: now(),
        updatedAt: now(),
        archived: false,
      },
    };
  }

  /** `GET /crm/v4/objects/deals/{id}/associations/notes`: the ids of the deal's notes. */
  private dealNotes(id: string): Answer {
    if (!this.deal(id)) return hubspotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
    const results = this.noteIdsOf(id).map((noteId) => ({
      toObjectId: Number(noteId),
      associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: NOTE_TO_DEAL, label: null }],
    }));
    return { status: 200, body: { results } };
  }

  /** `POST /crm/v3/objects/notes/batch/read` `{properties, inputs: [{id}]}`: the notes with their `hs_note_body`. */
  private readNotes(body: unknown): Answer {
    const inputs = isObject(body) && Array.isArray(body.inputs) ? body.inputs : [];
    if (inputs.length > 100) return hubspotError(400, 'VALIDATION_ERROR', 'Batch size must be at most 100');
    const wanted = new Set(inputs.map((input) => (isObject(input) ? String(input.id) : '')));
    const notes = [...this.deals.keys()].flatMap((dealId) => this.notesWithIds(dealId));
    const results = notes
      .filter((note) => wanted.has(note.id))
      .map((note) => ({
        id: note.id,
        properties: { hs_note_body: note.text, hs_object_id: note.id },
        createdAt: now(),
        updatedAt: now(),
        archived: false,
      }));
    return { status: 200, body: { status: 'COMPLETE', results, startedAt: now(), completedAt: now() } };
  }

  private createNote(body: unknown): Answer {
    const properties = isObject(body) && isObject(body.properties) ? body.properties : {};
    if (properties.hs_timestamp === undefined) {
      return hubspotError(400, 'VALIDATION_ERROR', 'Property values were not valid: hs_timestamp is required');
    }
    const associations = isObject(body) && Array.isArray(body.associations) ? body.associations : [];
    const dealIds: string[] = [];
    for (const association of associations) {
      const to = isObject(association) && isObject(association.to) ? String(association.to.id) : undefined;
      const types = isObject(association) && Array.isArray(association.types) ? association.types : [];
      const toDeal = types.some(
        (type) =>
          isObject(type) && type.associationCategory === 'HUBSPOT_DEFINED' && type.associationTypeId === NOTE_TO_DEAL,
      );
      if (!to || !toDeal) continue;
      if (!this.deal(to)) {
        return hubspotError(400, 'VALIDATION_ERROR', `One or more associations are invalid: deal ${to} does not exist`);
      }
      dealIds.push(to);
    }
    this.nextId += 1;
    for (const id of dealIds) this.addNoteTo(id, String(this.nextId), String(properties.hs_note_body ?? ''));
    return {
      status: 201,
      body: {
        id: String(this.nextId),
        properties: { ...properties, hs_createdate: now(), hs_object_id: String(this.nextId) },
        createdAt: now(),
        updatedAt: now(),
        archived: false,
      },
    };
  }

  protected failureAnswer(failure: ScriptedFailure): Answer {
    switch (failure.status) {
      case 429:
        return {
          status: 429,
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
          body: {
            status: 'error',
            message: 'You have reached your ten_secondly_rolling limit.',
            errorType: 'RATE_LIMIT',
            correlationId: randomUUID(),
            policyName: 'TEN_SECONDLY_ROLLING',
            category: 'RATE_LIMITS',
          },
        };
      case 401:
        return hubspotError(401, 'INVALID_AUTHENTICATION', 'The access token provided is invalid or expired.');
      case 400:
        return hubspotError(400, 'VALIDATION_ERROR', 'Property values were not valid');
      case 403:
        return hubspotError(403, 'MISSING_SCOPES', 'This app has not been granted all required scopes.');
      case 404:
        return hubspotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
      default:
        return {
          ...hubspotError(failure.status, 'INTERNAL_ERROR', 'internal error'),
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
        };
    }
  }
}

/** HubSpot's association type id of a note to its deal. */
const NOTE_TO_DEAL = 214;

function hubspotError(status: number, category: string, message: string): Answer {
  return { status, body: { status: 'error', message, correlationId: randomUUID(), category } };
}

// ---------------------------------------------------------------------------------------------------------------
// Pipedrive

export interface PipedriveStandInOptions extends StandInOptions {
  /** The API token it accepts in `x-api-token`. */
  apiToken?: string;
}

/** Pipedrive: `PATCH /api/v2/deals/{id}` (`stage_id`, `status`), `POST /api/v1/notes`; errors `{success: false, error}`. */
export class PipedriveStandIn extends CrmStandIn {
  readonly source = 'pipedrive';
  readonly apiToken: string;
  private nextNoteId = 100;

  constructor(pipedrive: PipedriveStandInOptions = {}) {
    super(pipedrive);
    this.apiToken = pipedrive.apiToken ?? 'pipedrive-stand-in-token';
  }

  /** Creates (or resets) an open deal in `stage_id`. */
  addDeal(id: number, stageId: number, status: 'open' | 'won' | 'lost' = 'open'): void {
    this.deals.set(String(id), { stage_id: stageId, status, notes: [] });
  }

  /** The deal's current stage as Stageflow reads it: its `status` when won or lost, else its `stage_id`. */
  stageOf(id: number | string): number | string | undefined {
    const deal = this.deal(String(id));
    if (!deal) return undefined;
    return deal.status === 'won' || deal.status === 'lost' ? (deal.status as string) : (deal.stage_id as number);
  }

  /** The deal's `stage_id` and `status`. */
  dealState(id: number | string): { stage_id: number; status: string } | undefined {
    const deal = this.deal(String(id));
    return deal && { stage_id: deal.stage_id as number, status: deal.status as string };
  }

  protected authenticated({ headers }: Incoming): boolean {
    return headers['x-api-token'] === this.apiToken;
  }

  protected route({ method, path, query, json }: Incoming, authenticated: boolean): Answer {
    if (!authenticated) return pipedriveError(401, 'unauthorized access');
    const dealPath = path.match(/^\/api\/v2\/deals\/(\d+)$/);
    if (method === 'PATCH' && dealPath) return this.updateDeal(dealPath[1] as string, json);
    if (method === 'POST' && path === '/api/v1/notes') return this.addNote(json);
    if (method === 'GET' && path === '/api/v1/notes') return this.listNotes(query);
    return pipedriveError(404, `Unknown method ${method} ${path}`);
  }

  private updateDeal(id: string, body: unknown): Answer {
    const deal = this.deal(id);
    if (!deal) return pipedriveError(404, 'Deal not found');
    if (!isObject(body)) return pipedriveError(400, 'Invalid request body');
    if (body.stage_id !== undefined && !Number.isInteger(body.stage_id)) {
      return pipedriveError(400, 'Validation failed: stage_id: Parameter must be an integer');
    }
    if (body.status !== undefined && !['open', 'won', 'lost', 'deleted'].includes(String(body.status))) {
      return pipedriveError(400, 'Validation failed: status: Parameter must be one of open, won, lost, deleted');
    }
    if (body.stage_id !== undefined) deal.stage_id = body.stage_id;
    if (body.status !== undefined) deal.status = body.status;
    return {
      status: 200,
      body: {
        success: true,
        data: { id: Number(id), stage_id: deal.stage_id, status: deal.status, update_time: now() },
      },
    };
  }

  /** `GET /api/v1/notes?deal_id=&start=&limit=&sort=add_time DESC`: the deal's notes, a page of them. */
  private listNotes(query: URLSearchParams): Answer {
    const dealId = query.get('deal_id') ?? '';
    const start = Number(query.get('start') ?? 0);
    const limit = Number(query.get('limit') ?? 100);
    if (!Number.isInteger(start) || !Number.isInteger(limit) || limit < 1 || limit > 500) {
      return pipedriveError(400, 'Validation failed: limit: Parameter must be an integer between 1 and 500');
    }
    const notes = this.notesWithIds(dealId);
    if (/\bDESC$/i.test(query.get('sort') ?? '')) notes.reverse();
    const page = notes.slice(start, start + limit);
    return {
      status: 200,
      body: {
        success: true,
        data: page.map((note) => ({
          id: Number(note.id),
          content: note.text,
          deal_id: Number(dealId),
          add_time: now(),
        })),
        additional_data: {
          pagination: { start, limit, more_items_in_collection: start + limit < notes.length },
        },
      },
    };
  }

  private addNote(body: unknown): Answer {
    if (!isObject(body) || typeof body.content !== 'string' || body.content === '') {
      return pipedriveError(400, 'Content is required');
    }
    const dealId = String(body.deal_id);
    if (!this.deal(dealId)) return pipedriveError(400, 'Deal not found');
    this.nextNoteId += 1;
    this.addNoteTo(dealId, String(this.nextNoteId), body.content);
    return {
      status: 201,
      body: {
        success: true,
        data: { id: this.nextNoteId, content: body.content, deal_id: body.deal_id, add_time: now() },
      },
    };
  }

  protected failureAnswer(failure: ScriptedFailure): Answer {
    switch (failure.status) {
      case 429: {
        const headers: Record<string, string> = { 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '0' };
        if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
        if (failure.rateLimitReset !== undefined) headers['x-ratelimit-reset'] = failure.rateLimitReset;
        return { ...pipedriveError(429, 'Request over limit'), headers };
      }
      case 401:
        return pipedriveError(401, 'unauthorized access');
      default: {
        const answer = pipedriveError(failure.status, failure.status >= 500 ? 'Internal server error' : 'Bad request');
        return 'retryAfter' in failure && failure.retryAfter !== undefined
          ? { ...answer, headers: { 'retry-after': failure.retryAfter } }
          : answer;
      }
    }
  }
}

function pipedriveError(status: number, error: string): Answer {
  return {
    status,
    body: {
      success: false,
      error,
      error_info: 'Please check developers.pipedrive.com for more information about Pipedrive API.',
      data: null,
      additional_data: null,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Salesforce

export interface SalesforceStandInOptions extends StandInOptions {
  clientId?: string;
  clientSecret?: string;
  /** The `StageName` picklist values it accepts; any value when unset. */
  stageNames?: string[];
}

const API = '/services/data/v62.0';

/**
 * Salesforce: the OAuth 2.0 client credentials token endpoint (answering `instance_url` = this server), `PATCH`
 * Opportunity → 204, `POST` Task → 201; errors an array of `{message, errorCode, fields}`.
 */
export class SalesforceStandIn extends CrmStandIn {
  readonly source = 'salesforce';
  readonly clientId: string;
  readonly clientSecret: string;
  private readonly sessions = new Set<string>();
  private nextTaskId = 1;

  constructor(private readonly salesforce: SalesforceStandInOptions = {}) {
    super(salesforce);
    this.clientId = salesforce.clientId ?? '3MVG9stand-in-consumer-key';
    this.clientSecret = salesforce.clientSecret ?? 'stand-in-consumer-secret';
  }

  /** Creates (or resets) an Opportunity in `stageName`. */
  addDeal(id: string, stageName: string): void {
    this.deals.set(id, { StageName: stageName, notes: [], tasks: [] });
  }

  stageOf(id: string): string | undefined {
    return this.deal(id)?.StageName as string | undefined;
  }

  /** The Tasks created on the Opportunity, as posted. */
  tasks(id: string): Record<string, unknown>[] {
    return (this.deal(id)?.tasks as Record<string, unknown>[] | undefined) ?? [];
  }

  /** Ends every session issued so far: the next API call with one answers `401 INVALID_SESSION_ID`. */
  expireSessions(): void {
    this.sessions.clear();
  }

  /** How many access tokens the token endpoint issued. */
  get tokensIssued(): number {
    return this.requestsTo('/services/oauth2/token').filter((request) => request.status === 200).length;
  }

  protected authenticated({ path, headers, rawBody }: Incoming): boolean {
    if (path === '/services/oauth2/token') {
      const form = new URLSearchParams(rawBody);
      return form.get('client_id') === this.clientId && form.get('client_secret') === this.clientSecret;
    }
    const token = headers.authorization?.match(/^(?:Bearer|OAuth) (.+)$/)?.[1];
    return token !== undefined && this.sessions.has(token);
  }

  protected override recordedBody(incoming: Incoming): unknown {
    if (incoming.path !== '/services/oauth2/token') return super.recordedBody(incoming);
    const form = Object.fromEntries(new URLSearchParams(incoming.rawBody));
    return { ...form, ...(form.client_secret === undefined ? {} : { client_secret: '[secret]' }) };
  }

  protected route(incoming: Incoming, authenticated: boolean): Answer {
    const { method, path, json } = incoming;
    if (method === 'POST' && path === '/services/oauth2/token') return this.token(incoming, authenticated);
    if (!authenticated) return sessionExpired();
    const opportunity = path.match(new RegExp(`^${API}/sobjects/Opportunity/([^/]+)$`));
    if (method === 'PATCH' && opportunity)
      return this.updateOpportunity(decodeURIComponent(opportunity[1] as string), json);
    if (method === 'POST' && path === `${API}/sobjects/Task`) return this.createTask(json);
    if (method === 'GET' && path === `${API}/query`) return this.query(incoming.query.get('q') ?? '');
    return salesforceError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }

  private token({ rawBody, headers }: Incoming, authenticated: boolean): Answer {
    const form = new URLSearchParams(rawBody);
    if (!headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'grant type not supported' } };
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant type not supported' } };
    }
    if (!authenticated) {
      return { status: 400, body: { error: 'invalid_client', error_description: 'invalid client credentials' } };
    }
    const accessToken = `00D000000000001!${randomUUID().replaceAll('-', '')}`;
    this.sessions.add(accessToken);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        signature: randomUUID(),
        scope: 'api',
        instance_url: this.url,
        id: `${this.url}/id/00D000000000001EAA/005000000000001AAA`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
      },
    };
  }

  private updateOpportunity(id: string, body: unknown): Answer {
    const deal = this.deal(id);
    if (!deal) return salesforceError(404, 'NOT_FOUND', 'The requested resource does not exist');
    if (!isObject(body)) return salesforceError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON');
    const { StageName } = body;
    if (
      StageName !== undefined &&
      this.salesforce.stageNames &&
      !this.salesforce.stageNames.includes(String(StageName))
    ) {
      return salesforceError(
        400,
        'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
        `Stage: bad value for restricted picklist field: ${String(StageName)}`,
        ['StageName'],
      );
    }
    if (StageName !== undefined) deal.StageName = String(StageName);
    return { status: 204 };
  }

  /**
   * `GET /query?q=`: the one SOQL shape write-back asks, `SELECT Id FROM Task WHERE WhatId = '<id>' AND Subject LIKE
   * '%<suffix>'`; any other query answers `MALFORMED_QUERY`.
   */
  private query(soql: string): Answer {
    const match = soql.match(
      /^SELECT Id FROM Task WHERE WhatId = '((?:[^'\\]|\\.)*)' AND Subject LIKE '((?:[^'\\]|\\.)*)'$/,
    );
    if (!match) return salesforceError(400, 'MALFORMED_QUERY', `unexpected query: ${soql.slice(0, 200)}`);
    const unquote = (text: string) => text.replaceAll(/\\(.)/g, '$1');
    const [whatId, pattern] = [unquote(match[1] ?? ''), unquote(match[2] ?? '')];
    // Write-back asks for Subjects ending in a reference: a pattern of `%` and a suffix.
    if (!pattern.startsWith('%') || pattern.indexOf('%', 1) >= 0) {
      return salesforceError(400, 'MALFORMED_QUERY', `the stand-in takes LIKE '%<suffix>' only, not '${pattern}'`);
    }
    const records = this.tasks(whatId)
      .filter((task) => String(task.Subject ?? '').endsWith(pattern.slice(1)))
      .map((task) => ({ attributes: { type: 'Task', url: `${API}/sobjects/Task/${String(task.Id)}` }, Id: task.Id }));
    return { status: 200, body: { totalSize: records.length, done: true, records } };
  }

  private createTask(body: unknown): Answer {
    if (!isObject(body)) return salesforceError(400, 'JSON_PARSER_ERROR', 'The request body is not valid JSON');
    const dealId = typeof body.WhatId === 'string' ? body.WhatId : '';
    const deal = this.deal(dealId);
    if (!deal) {
      return salesforceError(400, 'FIELD_INTEGRITY_EXCEPTION', 'Related To ID: id value of incorrect type', ['WhatId']);
    }
    const id = `00T${String(this.nextTaskId++).padStart(15, '0')}`;
    deal.tasks = [...this.tasks(dealId), { ...body, Id: id }];
    this.addNoteTo(dealId, id, String(body.Description ?? ''));
    return { status: 201, body: { id, success: true, errors: [] } };
  }

  protected failureAnswer(failure: ScriptedFailure): Answer {
    switch (failure.status) {
      case 401:
        return sessionExpired();
      case 429:
        return {
          ...salesforceError(429, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'),
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
        };
      case 403:
        return salesforceError(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
      case 400:
        return salesforceError(400, 'INVALID_FIELD', 'No such column on entity');
      case 404:
        return salesforceError(404, 'NOT_FOUND', 'The requested resource does not exist');
      default:
        return {
          ...salesforceError(failure.status, 'SERVER_UNAVAILABLE', 'Server temporarily unavailable'),
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
        };
    }
  }
}

function sessionExpired(): Answer {
  return salesforceError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
}

function salesforceError(status: number, errorCode: string, message: string, fields: string[] = []): Answer {
  return { status, body: [{ message, errorCode, fields }] };
}

/** The three stand-ins, started together (the demo and the integration tests use all three). */
export async function startCrmStandIns(options: StandInOptions = {}) {
  const [hubspot, pipedrive, salesforce] = await Promise.all([
    new HubSpotStandIn(options).start(),
    new PipedriveStandIn(options).start(),
    new SalesforceStandIn(options).start(),
  ]);
  return {
    hubspot,
    pipedrive,
    salesforce,
    /** The environment that points Stageflow's CRM clients at the stand-ins (CONTRACT section 9 names). */
    env: {
      HUBSPOT_ACCESS_TOKEN: hubspot.accessToken,
      HUBSPOT_API_BASE_URL: hubspot.url,
      PIPEDRIVE_API_TOKEN: pipedrive.apiToken,
      PIPEDRIVE_API_BASE_URL: pipedrive.url,
      SALESFORCE_CLIENT_ID: salesforce.clientId,
      SALESFORCE_CLIENT_SECRET: salesforce.clientSecret,
      SALESFORCE_LOGIN_URL: salesforce.url,
    },
    close: () => Promise.all([hubspot.close(), pipedrive.close(), salesforce.close()]).then(() => undefined),
  };
}
