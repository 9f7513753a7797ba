import {
  type CrmClientOptions,
  CrmHttp,
  CrmHttpError,
  type CrmJsonRequest,
  type CrmResponse,
  listField,
  type RequestCap,
  stringField,
} from './http.ts';
import { cut, refLine, unsupportedField } from './notes.ts';
import type { CrmCallResult, CrmClient, CrmNote, CrmStageValue } from './types.ts';

export const SALESFORCE_API_VERSION = 'v62.0';

/** Task `Subject` holds 255 characters, `Description` 32,000. */
const SUBJECT_LIMIT = 255;
const DESCRIPTION_LIMIT = 32_000;

/**
 * Salesforce counts API requests per org per 24 h and has no short window; it does limit long-running requests
 * running at once. Stay at 4 at once and 10 a second, gentle on the org's daily budget during a burst.
 */
export const SALESFORCE_CAP: RequestCap = { concurrency: 4, intervalCap: 10, intervalMs: 1_000 };

export interface SalesforceSettings {
  /** The connected app's consumer key and secret; the app's client credentials flow runs as its integration user. */
  clientId: string;
  clientSecret: string;
  /** The org's My Domain URL, e.g. `https://acme.my.salesforce.com`. */
  loginUrl: string;
}

interface Session {
  accessToken: string;
  instanceUrl: string;
}

/**
 * Salesforce REST: `StageName` on the Opportunity, a completed Task on it as the note. The
 * access token comes from the OAuth 2.0 client credentials flow, is shared by concurrent calls, and is fetched again
 * once when Salesforce answers `401 INVALID_SESSION_ID` (an expired or revoked session).
 */
export class SalesforceClient implements CrmClient {
  readonly source = 'salesforce';
  private readonly http: CrmHttp;
  private readonly loginUrl: string;
  private session: Promise<Session> | undefined;

  constructor(
    private readonly settings: SalesforceSettings,
    options?: CrmClientOptions,
  ) {
    this.loginUrl = settings.loginUrl.replace(/\/+$/, '');
    this.http = new CrmHttp('salesforce', salesforceErrorMessage, SALESFORCE_CAP, options);
    this.http.keepSecret(settings.clientSecret);
    this.http.retryOverLimit(isRequestLimitExceeded);
  }

  setStage(crmDealId: string, value: CrmStageValue): Promise<CrmCallResult> {
    if (value.field !== 'StageName') return Promise.resolve(unsupportedField('Salesforce', 'StageName', value));
    return this.request('PATCH', `/sobjects/Opportunity/${encodeURIComponent(crmDealId)}`, {
      StageName: String(value.value),
    });
  }

  addNote(crmDealId: string, note: CrmNote): Promise<CrmCallResult> {
    const firstLine = note.text.trim().split(/\r?\n/, 1)[0] || 'Stageflow';
    // The Subject ends with the reference: SOQL can search it (not the Description, a long text area).
    const suffix = ` [${note.ref}]`;
    const task = {
      WhatId: crmDealId,
      Subject: `${cut(firstLine, SUBJECT_LIMIT - suffix.length)}${suffix}`,
      Description: `${cut(note.text, DESCRIPTION_LIMIT - refLine(note.ref).length - 1)}\n${refLine(note.ref)}`,
      Status: 'Completed',
    };
    const soql = `SELECT Id FROM Task WHERE WhatId = '${soqlText(crmDealId)}' AND Subject LIKE '%${soqlText(suffix.trim(), true)}'`;
    return this.http.writeOnce(
      () => this.send('POST', '/sobjects/Task', task),
      async () => {
        const found = this.http.lookup(await this.send('GET', `/query?${new URLSearchParams({ q: soql })}`, undefined));
        return listField(found, 'records').length > 0;
      },
      note.inDoubt,
    );
  }

  private request(method: 'PATCH' | 'POST', path: string, body: unknown): Promise<CrmCallResult> {
    return this.http.call(() => this.send(method, path, body));
  }

  /** One exchange with the REST API on the current session, fetched once more when Salesforce ended it. */
  private async send(method: CrmJsonRequest['method'], path: string, body: unknown): Promise<CrmResponse> {
    const send = (session: Session) =>
      this.http.sendJson({
        method,
        url: `${session.instanceUrl}/services/data/${SALESFORCE_API_VERSION}${path}`,
        headers: { authorization: `Bearer ${session.accessToken}` },
        body,
      });
    const pending = this.currentSession();
    const response = await send(await pending);
    if (!isInvalidSession(response)) return response;
    // Fetch a new session once, unless a concurrent call already did.
    if (this.session === pending) this.session = undefined;
    return send(await this.currentSession());
  }

  /** The cached session, or one fetched once for every caller waiting on it; a failed fetch is not cached. */
  private currentSession(): Promise<Session> {
    if (this.session) return this.session;
    const pending = this.fetchSession();
    this.session = pending;
    pending.catch(() => {
      if (this.session === pending) this.session = undefined;
    });
    return pending;
  }

  private async fetchSession(): Promise<Session> {
    const response = await this.http.send({
      method: 'POST',
      url: `${this.loginUrl}/services/oauth2/token`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: this.settings.clientId,
        client_secret: this.settings.clientSecret,
      }).toString(),
    });
    if (response.status !== 200) throw tokenFailure(this.http.failure(response));
    const accessToken = stringField(response.body, 'access_token');
    const instanceUrl = stringField(response.body, 'instance_url');
    if (!accessToken || !instanceUrl) {
      throw new CrmHttpError(502, 'the Salesforce token endpoint answered without access_token and instance_url');
    }
    this.http.keepSecret(accessToken);
    return { accessToken, instanceUrl: instanceUrl.replace(/\/+$/, '') };
  }
}

/**
 * The token endpoint's refusal. A 4xx there (`invalid_client`, `invalid_grant`, …) means the credentials are wrong,
 * so it is reported as a `401`, the status write-back alarms on; 429 and 5xx stay as they are and are retried.
 */
function tokenFailure(error: CrmHttpError): CrmHttpError {
  if (error.retryable) return error;
  return new CrmHttpError(401, `OAuth token refused (HTTP ${error.status}): ${error.message}`);
}

function isInvalidSession(response: CrmResponse): boolean {
  return response.status === 401 && hasErrorCode(response, 'INVALID_SESSION_ID');
}

/**
 * Salesforce answers a call over the org's API request limit with `403` and `errorCode` `REQUEST_LIMIT_EXCEEDED`
 * (its REST API has no `429`): the limit frees up as the rolling 24 hours move on, so the call is retried like a 429.
 */
export function isRequestLimitExceeded(response: CrmResponse): boolean {
  return response.status === 403 && hasErrorCode(response, 'REQUEST_LIMIT_EXCEEDED');
}

function hasErrorCode(response: CrmResponse, errorCode: string): boolean {
  return Array.isArray(response.body) && response.body.some((error) => stringField(error, 'errorCode') === errorCode);
}

/** Salesforce REST errors are an array of `{message, errorCode, fields}`; its token endpoint answers `{error, error_description}`. */
function salesforceErrorMessage(body: unknown): string | undefined {
  if (Array.isArray(body)) {
    const messages = body
      .map((error) => [stringField(error, 'errorCode'), stringField(error, 'message')].filter(Boolean).join(': '))
      .filter((message) => message !== '');
    return messages.length > 0 ? messages.join('; ') : undefined;
  }
  const error = stringField(body, 'error');
  const description = stringField(body, 'error_description');
  return error && description ? `${error}: ${description}` : error;
}

/** Text inside a SOQL string literal: quotes and backslashes escaped, and in a LIKE pattern its wildcards too. */
function soqlText(text: string, like = false): string {
  return text.replaceAll(like ? /[\\'%_]/g : /[\\']/g, '\\$&');
}
