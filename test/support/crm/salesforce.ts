import { randomUUID } from 'node:crypto';
import {
  CrmSandbox,
  type CrmSandboxOptions,
  isObject,
  type SandboxAnswer,
  type SandboxRequest,
} from '../../../infra/local/crm-sandbox.ts';
import { type ScriptedFailure, withFailureScripting } from './server.ts';

export interface SalesforceStandInOptions extends CrmSandboxOptions {
  clientId?: string;
  clientSecret?: string;
  /** The `StageName` picklist values it accepts; any value when unset. */
  stageNames?: string[];
  /** The connected app's OAuth scopes, which its tokens carry; default `api` (the REST API needs it). */
  scopes?: readonly string[];
}

const API = '/services/data/v62.0';

/**
 * Salesforce: the OAuth 2.0 client credentials token endpoint (answering `instance_url` = this server), `PATCH`
 * Opportunity → 204, `POST` Task → 201; errors an array of `{message, errorCode, fields}`. Its API limit answers
 * `403` `REQUEST_LIMIT_EXCEEDED` (Salesforce's REST API has no `429`); a token without the `api` scope answers `401`
 * `INVALID_SESSION_ID`.
 */
export class SalesforceStandIn extends withFailureScripting(CrmSandbox) {
  readonly source = 'salesforce';
  readonly clientId: string;
  readonly clientSecret: string;
  /** Each issued access token, with the scopes it carries. */
  private readonly sessions = new Map<string, readonly string[]>();
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

  protected authenticated({ path, headers, rawBody }: SandboxRequest): boolean {
    if (path === '/services/oauth2/token') {
      const form = new URLSearchParams(rawBody);
      return form.get('client_id') === this.clientId && form.get('client_secret') === this.clientSecret;
    }
    return this.sessionScopes(headers) !== undefined;
  }

  private sessionScopes(headers: Record<string, string>): readonly string[] | undefined {
    const token = headers.authorization?.match(/^(?:Bearer|OAuth) (.+)$/)?.[1];
    return token === undefined ? undefined : this.sessions.get(token);
  }

  /** Salesforce's REST API answers its limit with `403`, never `429`: a scripted `429` would test a path it never takes. */
  override failNext(count: number, failure: ScriptedFailure, pathPrefix?: string): void {
    if (failure.status === 429) {
      throw new Error('Salesforce answers its API limit with 403 REQUEST_LIMIT_EXCEEDED: script { status: 403 }');
    }
    super.failNext(count, failure, pathPrefix);
  }

  protected override recordedBody(incoming: SandboxRequest): unknown {
    if (incoming.path !== '/services/oauth2/token') return super.recordedBody(incoming);
    const form = Object.fromEntries(new URLSearchParams(incoming.rawBody));
    return { ...form, ...(form.client_secret === undefined ? {} : { client_secret: '[secret]' }) };
  }

  protected route(incoming: SandboxRequest, authenticated: boolean): SandboxAnswer {
    const { method, path, json } = incoming;
    if (method === 'POST' && path === '/services/oauth2/token') return this.token(incoming, authenticated);
    if (!authenticated) return sessionExpired();
    if (!this.sessionScopes(incoming.headers)?.includes('api')) {
      return salesforceError(401, 'INVALID_SESSION_ID', 'This session is not valid for use with the REST API');
    }
    const opportunity = path.match(new RegExp(`^${API}/sobjects/Opportunity/([^/]+)$`));
    if (method === 'PATCH' && opportunity)
      return this.updateOpportunity(decodeURIComponent(opportunity[1] as string), json);
    if (method === 'POST' && path === `${API}/sobjects/Task`) return this.createTask(json);
    if (method === 'GET' && path === `${API}/query`) return this.query(incoming.query.get('q') ?? '');
    return salesforceError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }

  private token({ rawBody, headers }: SandboxRequest, authenticated: boolean): SandboxAnswer {
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
    const scopes = this.salesforce.scopes ?? ['api'];
    this.sessions.set(accessToken, scopes);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        signature: randomUUID(),
        scope: scopes.join(' '),
        instance_url: this.url,
        id: `${this.url}/id/00D000000000001EAA/005000000000001AAA`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
      },
    };
  }

  private updateOpportunity(id: string, body: unknown): SandboxAnswer {
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
  private query(soql: string): SandboxAnswer {
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

  private createTask(body: unknown): SandboxAnswer {
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

  protected override failureAnswer(failure: ScriptedFailure): SandboxAnswer {
    switch (failure.status) {
      case 401:
        return sessionExpired();
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

function sessionExpired(): SandboxAnswer {
  return salesforceError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
}

function salesforceError(status: number, errorCode: string, message: string, fields: string[] = []): SandboxAnswer {
  return { status, body: [{ message, errorCode, fields }] };
}
