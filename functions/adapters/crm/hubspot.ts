import { type CrmClientOptions, CrmHttp, JsonApi, listField, type RequestCap, stringField } from './http.ts';
import { carriesRef, htmlNoteWithRef, unsupportedField } from './notes.ts';
import type { CrmCallResult, CrmClient, CrmNote, CrmStageValue } from './types.ts';

export const HUBSPOT_DEFAULT_BASE_URL = 'https://api.hubapi.com';

/** HubSpot's association type id for "note to deal" (category `HUBSPOT_DEFINED`). */
const NOTE_TO_DEAL = 214;
/** `hs_note_body` holds at most 65,536 characters. */
const NOTE_LIMIT = 65_536;
/** The batch read takes 100 ids: a note in doubt is among the deal's newest. */
const NOTES_SEARCHED = 100;
/** The most associations one v4 read answers; `paging.next.after` names the next page. */
const ASSOCIATIONS_PAGE = 500;
/** Where a private app's scopes are edited, for the operator told that one is missing. */
const SCOPES_SETTING = "the private app's Scopes tab (HubSpot: Settings › Integrations › Private Apps)";

/**
 * HubSpot allows a private app 100 requests per 10 s on its lowest tiers (190 above), per app: stay at 80 in any
 * 10 s, 4 at once.
 */
export const HUBSPOT_CAP: RequestCap = { concurrency: 4, intervalCap: 80, intervalMs: 10_000 };

export interface HubSpotSettings {
  /**
   * A private app's access token, with the scopes `crm.objects.deals.read` and `.write`, and for the notes
   * `crm.objects.contacts.read` and `.write`.
   */
  accessToken: string;
  /** Default {@link HUBSPOT_DEFAULT_BASE_URL}. */
  baseUrl?: string;
}

/** HubSpot CRM v3: `dealstage` on the deal, notes associated to it. */
export class HubSpotClient implements CrmClient {
  readonly source = 'hubspot';
  private readonly api: JsonApi;

  constructor(settings: HubSpotSettings, options?: CrmClientOptions) {
    const http = new CrmHttp('hubspot', hubSpotErrorMessage, HUBSPOT_CAP, options);
    http.keepSecret(settings.accessToken);
    const baseUrl = (settings.baseUrl ?? HUBSPOT_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.api = new JsonApi(http, baseUrl, { authorization: `Bearer ${settings.accessToken}` });
  }

  setStage(crmDealId: string, value: CrmStageValue): Promise<CrmCallResult> {
    if (value.field !== 'dealstage') return Promise.resolve(unsupportedField('HubSpot', 'dealstage', value));
    return this.api.call('PATCH', `/crm/v3/objects/deals/${encodeURIComponent(crmDealId)}`, {
      properties: { dealstage: String(value.value) },
    });
  }

  addNote(crmDealId: string, note: CrmNote): Promise<CrmCallResult> {
    const create = {
      properties: { hs_note_body: htmlNoteWithRef(note, NOTE_LIMIT), hs_timestamp: new Date().toISOString() },
      associations: [
        {
          to: { id: crmDealId },
          types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: NOTE_TO_DEAL }],
        },
      ],
    };
    return this.api.postOnce('/crm/v3/objects/notes', create, () => this.hasNote(crmDealId, note.ref), note.inDoubt);
  }

  /** Whether one of the deal's newest notes tells of `ref`: the deal's note ids, then their bodies. */
  private async hasNote(crmDealId: string, ref: string): Promise<boolean> {
    const ids = (await this.noteIds(crmDealId)).sort((a, b) => b - a).slice(0, NOTES_SEARCHED);
    if (ids.length === 0) return false;
    const read = { properties: ['hs_note_body'], inputs: ids.map((id) => ({ id: String(id) })) };
    const notes = listField(await this.api.read('POST', '/crm/v3/objects/notes/batch/read', read), 'results');
    return notes.some((found) =>
      carriesRef(stringField((found as { properties?: unknown }).properties, 'hs_note_body') ?? '', ref),
    );
  }

  /** The ids of every note associated to the deal, read page by page (v4 answers at most 500 a page). */
  private async noteIds(crmDealId: string): Promise<number[]> {
    const ids: number[] = [];
    const seen = new Set<string>();
    let after: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(ASSOCIATIONS_PAGE), ...(after ? { after } : {}) });
      const path = `/crm/v4/objects/deals/${encodeURIComponent(crmDealId)}/associations/notes?${query}`;
      const page = await this.api.read('GET', path);
      for (const association of listField(page, 'results')) {
        const id = Number((association as { toObjectId?: unknown }).toObjectId);
        if (Number.isSafeInteger(id)) ids.push(id);
      }
      after = nextAfter(page);
      // A cursor seen before would read the same pages forever.
      if (after !== undefined && seen.has(after)) break;
      if (after !== undefined) seen.add(after);
    } while (after !== undefined);
    return ids;
  }
}

/** `paging.next.after` of a HubSpot page: the cursor of the next page, absent on the last. */
function nextAfter(page: unknown): string | undefined {
  const paging = page !== null && typeof page === 'object' ? (page as { paging?: unknown }).paging : undefined;
  const next = paging !== null && typeof paging === 'object' ? (paging as { next?: unknown }).next : undefined;
  return stringField(next, 'after');
}

/**
 * HubSpot's error body: `{status: "error", message, correlationId, category, errors?}`. A `403` `MISSING_SCOPES`
 * lists the scopes the call needs in `errors[].context.requiredGranularScopes` (or `requiredScopes`): the message
 * names them and where a HubSpot admin adds them.
 */
function hubSpotErrorMessage(body: unknown): string | undefined {
  const message = stringField(body, 'message');
  const category = stringField(body, 'category');
  if (category === 'MISSING_SCOPES') {
    const scopes = requiredScopes(body);
    const needed = scopes.length > 0 ? scopes.join(', ') : 'a scope this call needs';
    return `MISSING_SCOPES: the HubSpot token lacks ${needed}; add it in ${SCOPES_SETTING}`;
  }
  return message && category ? `${category}: ${message}` : message;
}

function requiredScopes(body: unknown): string[] {
  return listField(body, 'errors').flatMap((error) => {
    const context = error !== null && typeof error === 'object' ? (error as { context?: unknown }).context : undefined;
    const named = [...listField(context, 'requiredGranularScopes'), ...listField(context, 'requiredScopes')];
    return named.filter((scope): scope is string => typeof scope === 'string');
  });
}
