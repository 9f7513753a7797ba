import { type CrmClientOptions, CrmHttp, JsonApi, listField, type RequestCap, stringField } from './http.ts';
import { carriesRef, htmlNoteWithRef, unsupportedField } from './notes.ts';
import type { CrmCallResult, CrmClient, CrmNote, CrmStageValue } from './types.ts';

/** Pipedrive keeps note `content` (HTML) well under 100 KB. */
const NOTE_LIMIT = 100_000;
/** A note in doubt is among the deal's newest. */
const NOTES_SEARCHED = 100;

/**
 * Pipedrive limits bursts per API token in 2-second windows, 20 requests on the lowest plan (more above): stay at
 * 16 in any 2 s, 4 at once.
 */
export const PIPEDRIVE_CAP: RequestCap = { concurrency: 4, intervalCap: 16, intervalMs: 2_000 };

export interface PipedriveSettings {
  /** The API token of the integration user (header `x-api-token`). */
  apiToken: string;
  /** The company domain, e.g. `https://acme.pipedrive.com`. */
  baseUrl: string;
}

/**
 * Pipedrive: deals through API v2 (`stage_id`, or `status` for the closed stages), notes through
 * v1, where notes still live. Deal ids are numeric.
 */
export class PipedriveClient implements CrmClient {
  readonly source = 'pipedrive';
  private readonly api: JsonApi;

  constructor(settings: PipedriveSettings, options?: CrmClientOptions) {
    const http = new CrmHttp('pipedrive', pipedriveErrorMessage, PIPEDRIVE_CAP, options);
    http.keepSecret(settings.apiToken);
    this.api = new JsonApi(http, settings.baseUrl.replace(/\/+$/, ''), { 'x-api-token': settings.apiToken });
  }

  setStage(crmDealId: string, value: CrmStageValue, shown?: CrmStageValue | null): Promise<CrmCallResult> {
    if (!DEAL_ID.test(crmDealId)) return Promise.resolve(notADealId(crmDealId));
    if (value.field === 'stage_id') {
      // Pipedrive keeps `status` beside `stage_id`: a deal marked won or lost stays closed unless it is reopened.
      const reopen = shown?.field === 'status' ? { status: 'open' } : {};
      return this.api.call('PATCH', `/api/v2/deals/${encodeURIComponent(crmDealId)}`, {
        stage_id: Number(value.value),
        ...reopen,
      });
    }
    if (value.field === 'status') {
      return this.api.call('PATCH', `/api/v2/deals/${encodeURIComponent(crmDealId)}`, { status: String(value.value) });
    }
    return Promise.resolve(unsupportedField('Pipedrive', 'stage_id or status', value));
  }

  addNote(crmDealId: string, note: CrmNote): Promise<CrmCallResult> {
    if (!DEAL_ID.test(crmDealId)) return Promise.resolve(notADealId(crmDealId));
    const create = { deal_id: Number(crmDealId), content: htmlNoteWithRef(note, NOTE_LIMIT) };
    return this.api.postOnce('/api/v1/notes', create, () => this.hasNote(crmDealId, note.ref), note.inDoubt);
  }

  /** Whether one of the deal's newest notes tells of `ref`. */
  private async hasNote(crmDealId: string, ref: string): Promise<boolean> {
    const query = new URLSearchParams({
      deal_id: crmDealId,
      start: '0',
      limit: String(NOTES_SEARCHED),
      sort: 'add_time DESC',
    });
    const page = await this.api.read('GET', `/api/v1/notes?${query}`);
    return listField(page, 'data').some((found) => carriesRef(stringField(found, 'content') ?? '', ref));
  }
}

const DEAL_ID = /^[1-9]\d{0,15}$/;

function notADealId(crmDealId: string): CrmCallResult {
  return {
    ok: false,
    status: 0,
    attempts: 0,
    message: `Pipedrive deal ids are numeric, not '${crmDealId.slice(0, 40)}'`,
  };
}

/** Pipedrive's error body: `{success: false, error, error_info?, code?}`. */
function pipedriveErrorMessage(body: unknown): string | undefined {
  return stringField(body, 'error');
}
