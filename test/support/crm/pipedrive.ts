import type { CrmStageValue } from '../../../functions/adapters/crm/types.ts';
import {
  CrmSandbox,
  type CrmSandboxOptions,
  isObject,
  nowIso,
  type SandboxAnswer,
  type SandboxRequest,
} from '../../../infra/local/crm-sandbox.ts';
import { type ScriptedFailure, withFailureScripting } from './server.ts';

/** The scopes that let an app's token move deals and write their notes (`deals:full`) and read them (`deals:read`). */
export const PIPEDRIVE_WRITE_BACK_SCOPES = ['deals:read', 'deals:full'] as const;

/** The account's first pipeline (id 1, the one every account starts with) and a second one an admin added. */
export const PIPEDRIVE_PIPELINES: Record<number, readonly number[]> = { 1: [1, 2, 3, 4, 5], 2: [6, 7, 8, 9] };

export interface PipedriveStandInOptions extends CrmSandboxOptions {
  /** The API token it accepts in `x-api-token`. */
  apiToken?: string;
  /** The scopes the token carries; default {@link PIPEDRIVE_WRITE_BACK_SCOPES}. */
  scopes?: readonly string[];
  /** The account's pipelines by `pipeline_id`, with their `stage_id`s; default {@link PIPEDRIVE_PIPELINES}. */
  pipelines?: Record<number, readonly number[]>;
}

/**
 * Pipedrive: `PATCH /api/v2/deals/{id}` (`stage_id`, `status`), `POST /api/v1/notes`; errors `{success: false, error}`.
 * The account has several pipelines: a `stage_id` must be a stage of one of them, and it takes the deal to that
 * stage's pipeline. The token carries scopes; a call outside them answers `403` "Scope and URL mismatch".
 */
export class PipedriveStandIn extends withFailureScripting(CrmSandbox) {
  readonly source = 'pipedrive';
  readonly apiToken: string;
  readonly pipelines: Record<number, readonly number[]>;
  private granted: Set<string>;
  private nextNoteId = 100;

  constructor(pipedrive: PipedriveStandInOptions = {}) {
    super(pipedrive);
    this.apiToken = pipedrive.apiToken ?? 'pipedrive-stand-in-token';
    this.granted = new Set(pipedrive.scopes ?? PIPEDRIVE_WRITE_BACK_SCOPES);
    this.pipelines = pipedrive.pipelines ?? PIPEDRIVE_PIPELINES;
  }

  /** The scopes the token carries from now on. */
  grantScopes(scopes: readonly string[]): void {
    this.granted = new Set(scopes);
  }

  /** Creates (or resets) an open deal in `stage_id`, in the pipeline that holds the stage. */
  addDeal(id: number, stageId: number, status: 'open' | 'won' | 'lost' = 'open'): void {
    const pipelineId = this.pipelineOfStage(stageId);
    if (pipelineId === undefined) throw new Error(`the Pipedrive stand-in has no stage ${stageId} in any pipeline`);
    this.deals.set(String(id), { stage_id: stageId, pipeline_id: pipelineId, status, notes: [] });
  }

  /** The `pipeline_id` of the deal. */
  pipelineOf(id: number | string): number | undefined {
    return this.deal(String(id))?.pipeline_id as number | undefined;
  }

  /** A person moves the deal; a stage of another pipeline takes the deal to that pipeline. */
  override moveDeal(id: string | number, value: CrmStageValue): void {
    super.moveDeal(id, value);
    const pipelineId = value.field === 'stage_id' ? this.pipelineOfStage(Number(value.value)) : undefined;
    const deal = this.deal(String(id));
    if (deal && pipelineId !== undefined) deal.pipeline_id = pipelineId;
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

  protected authenticated({ headers }: SandboxRequest): boolean {
    return headers['x-api-token'] === this.apiToken;
  }

  protected route({ method, path, query, json }: SandboxRequest, authenticated: boolean): SandboxAnswer {
    if (!authenticated) return pipedriveError(401, 'unauthorized access');
    // Reading notes takes either deals scope; moving deals and writing notes takes `deals:full`.
    const needed = method === 'GET' ? ['deals:read', 'deals:full'] : ['deals:full'];
    if (!needed.some((scope) => this.granted.has(scope))) {
      return scopeMismatch();
    }
    const dealPath = path.match(/^\/api\/v2\/deals\/(\d+)$/);
    if (method === 'PATCH' && dealPath) return this.updateDeal(dealPath[1] as string, json);
    if (method === 'POST' && path === '/api/v1/notes') return this.addNote(json);
    if (method === 'GET' && path === '/api/v1/notes') return this.listNotes(query);
    return pipedriveError(404, `Unknown method ${method} ${path}`);
  }

  private updateDeal(id: string, body: unknown): SandboxAnswer {
    const deal = this.deal(id);
    if (!deal) return pipedriveError(404, 'Deal not found');
    if (!isObject(body)) return pipedriveError(400, 'Invalid request body');
    if (body.stage_id !== undefined && !Number.isInteger(body.stage_id)) {
      return pipedriveError(400, 'Validation failed: stage_id: Parameter must be an integer');
    }
    if (body.status !== undefined && !['open', 'won', 'lost', 'deleted'].includes(String(body.status))) {
      return pipedriveError(400, 'Validation failed: status: Parameter must be one of open, won, lost, deleted');
    }
    const pipelineId = body.stage_id === undefined ? deal.pipeline_id : this.pipelineOfStage(Number(body.stage_id));
    if (pipelineId === undefined) {
      return pipedriveError(400, `Validation failed: stage_id: Stage with id ${String(body.stage_id)} does not exist`);
    }
    if (body.stage_id !== undefined) deal.stage_id = body.stage_id;
    deal.pipeline_id = pipelineId;
    if (body.status !== undefined) deal.status = body.status;
    return {
      status: 200,
      body: {
        success: true,
        data: {
          id: Number(id),
          stage_id: deal.stage_id,
          pipeline_id: deal.pipeline_id,
          status: deal.status,
          update_time: nowIso(),
        },
      },
    };
  }

  private pipelineOfStage(stageId: number): number | undefined {
    const found = Object.entries(this.pipelines).find(([, stages]) => stages.includes(stageId));
    return found ? Number(found[0]) : undefined;
  }

  /** `GET /api/v1/notes?deal_id=&start=&limit=&sort=add_time DESC`: the deal's notes, a page of them. */
  private listNotes(query: URLSearchParams): SandboxAnswer {
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
          add_time: nowIso(),
        })),
        additional_data: {
          pagination: { start, limit, more_items_in_collection: start + limit < notes.length },
        },
      },
    };
  }

  private addNote(body: unknown): SandboxAnswer {
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
        data: { id: this.nextNoteId, content: body.content, deal_id: body.deal_id, add_time: nowIso() },
      },
    };
  }

  protected override failureAnswer(failure: ScriptedFailure): SandboxAnswer {
    switch (failure.status) {
      case 429: {
        const headers: Record<string, string> = { 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '0' };
        if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
        if (failure.rateLimitReset !== undefined) headers['x-ratelimit-reset'] = failure.rateLimitReset;
        return { ...pipedriveError(429, 'Request over limit'), headers };
      }
      case 401:
        return pipedriveError(401, 'unauthorized access');
      case 403:
        return scopeMismatch();
      default: {
        const answer = pipedriveError(failure.status, failure.status >= 500 ? 'Internal server error' : 'Bad request');
        return 'retryAfter' in failure && failure.retryAfter !== undefined
          ? { ...answer, headers: { 'retry-after': failure.retryAfter } }
          : answer;
      }
    }
  }
}

/** Pipedrive's answer to a call the token's scopes do not cover. */
function scopeMismatch(): SandboxAnswer {
  return { status: 403, body: { success: false, error: 'Scope and URL mismatch', errorCode: 403 } };
}

function pipedriveError(status: number, error: string): SandboxAnswer {
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
