import { randomUUID } from 'node:crypto';
import {
  CrmSandbox,
  type CrmSandboxOptions,
  isObject,
  nowIso,
  type SandboxAnswer,
  type SandboxRequest,
} from './crm-sandbox.ts';

export interface HubSpotSandboxOptions extends CrmSandboxOptions {
  /** The private app token it accepts. */
  accessToken?: string;
  /** The `dealstage` values it accepts (400 VALIDATION_ERROR otherwise); any value when unset. */
  dealstages?: string[];
}

/**
 * A local HubSpot CRM v3 API for `npm run demo` to write back to: `PATCH /crm/v3/objects/deals/{id}`,
 * `POST /crm/v3/objects/notes` and the reads that find a deal's notes; errors `{status, message, correlationId,
 * category}`.
 */
export class HubSpotSandbox extends CrmSandbox {
  readonly source = 'hubspot';
  readonly accessToken: string;
  private nextId = 9_000_000;

  constructor(private readonly hubspot: HubSpotSandboxOptions = {}) {
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

  protected authenticated({ headers }: SandboxRequest): boolean {
    return headers.authorization === `Bearer ${this.accessToken}`;
  }

  protected route({ method, path, query, json }: SandboxRequest, authenticated: boolean): SandboxAnswer {
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
    if (method === 'GET' && dealNotes) return this.dealNotes(decodeURIComponent(dealNotes[1] as string), query);
    if (method === 'POST' && path === '/crm/v3/objects/notes/batch/read') return this.readNotes(json);
    return hubspotError(404, 'OBJECT_NOT_FOUND', `No route for ${method} ${path}`);
  }

  private updateDeal(id: string, body: unknown): SandboxAnswer {
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
        properties: { dealstage: deal.dealstage, hs_lastmodifieddate: nowIso(), hs_object_id: id },
        createdAt: nowIso(),
        updatedAt: nowIso(),
        archived: false,
      },
    };
  }

  /**
   * `GET /crm/v4/objects/deals/{id}/associations/notes?limit=&after=`: the ids of the deal's notes, oldest first, a
   * page of at most `limit` (default and most {@link ASSOCIATIONS_PAGE}); `paging.next.after` names the next page.
   */
  private dealNotes(id: string, query: URLSearchParams): SandboxAnswer {
    if (!this.deal(id)) return hubspotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
    const limit = Number(query.get('limit') ?? ASSOCIATIONS_PAGE);
    const start = Number(query.get('after') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > ASSOCIATIONS_PAGE || !Number.isInteger(start) || start < 0) {
      return hubspotError(400, 'VALIDATION_ERROR', `limit must be 1 to ${ASSOCIATIONS_PAGE}, after a cursor it gave`);
    }
    const noteIds = this.noteIdsOf(id);
    const results = noteIds.slice(start, start + limit).map((noteId) => ({
      toObjectId: Number(noteId),
      associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: NOTE_TO_DEAL, label: null }],
    }));
    const next = start + limit;
    if (next >= noteIds.length) return { status: 200, body: { results } };
    const link = `${this.url}/crm/v4/objects/deals/${encodeURIComponent(id)}/associations/notes?after=${next}`;
    return { status: 200, body: { results, paging: { next: { after: String(next), link } } } };
  }

  /** `POST /crm/v3/objects/notes/batch/read` `{properties, inputs: [{id}]}`: the notes with their `hs_note_body`. */
  private readNotes(body: unknown): SandboxAnswer {
    const inputs = isObject(body) && Array.isArray(body.inputs) ? body.inputs : [];
    if (inputs.length > 100) return hubspotError(400, 'VALIDATION_ERROR', 'Batch size must be at most 100');
    const wanted = new Set(inputs.map((input) => (isObject(input) ? String(input.id) : '')));
    const notes = [...this.deals.keys()].flatMap((dealId) => this.notesWithIds(dealId));
    const results = notes
      .filter((note) => wanted.has(note.id))
      .map((note) => ({
        id: note.id,
        properties: { hs_note_body: note.text, hs_object_id: note.id },
        createdAt: nowIso(),
        updatedAt: nowIso(),
        archived: false,
      }));
    return { status: 200, body: { status: 'COMPLETE', results, startedAt: nowIso(), completedAt: nowIso() } };
  }

  private createNote(body: unknown): SandboxAnswer {
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
        properties: { ...properties, hs_createdate: nowIso(), hs_object_id: String(this.nextId) },
        createdAt: nowIso(),
        updatedAt: nowIso(),
        archived: false,
      },
    };
  }
}

/** HubSpot's association type id of a note to its deal. */
const NOTE_TO_DEAL = 214;
/** The most associations one v4 read answers (and its default `limit`). */
const ASSOCIATIONS_PAGE = 500;

export function hubspotError(status: number, category: string, message: string): SandboxAnswer {
  return { status, body: { status: 'error', message, correlationId: randomUUID(), category } };
}
