import { randomUUID } from 'node:crypto';
import type { CrmStageValue } from '../../../functions/adapters/crm/types.ts';
import { isObject, type SandboxAnswer, type SandboxRequest } from '../../../infra/local/crm-sandbox.ts';
import { HubSpotSandbox, type HubSpotSandboxOptions, hubspotError } from '../../../infra/local/hubspot-sandbox.ts';
import { type ScriptedFailure, withFailureScripting } from './server.ts';

/** The scopes a private app needs for Stageflow's write-back: the deal's stage, and the notes (a contacts scope). */
export const HUBSPOT_WRITE_BACK_SCOPES = [
  'crm.objects.deals.read',
  'crm.objects.deals.write',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
] as const;

/** HubSpot's own sales pipeline: id `default`, its stage ids. */
export const HUBSPOT_DEFAULT_PIPELINE = {
  id: 'default',
  stages: [
    'appointmentscheduled',
    'qualifiedtobuy',
    'presentationscheduled',
    'decisionmakerboughtin',
    'contractsent',
    'closedwon',
    'closedlost',
  ],
};

/** A pipeline an admin added (renewals): HubSpot gives added pipelines and their stages numeric ids. */
export const HUBSPOT_RENEWALS_PIPELINE = { id: '2850001', stages: ['2850002', '2850003', '2850004', '2850005'] };

export interface HubSpotStandInOptions extends HubSpotSandboxOptions {
  /** The scopes the private app's token was granted; default {@link HUBSPOT_WRITE_BACK_SCOPES}. */
  scopes?: readonly string[];
  /** The account's deal pipelines, by id, with their stage ids; default the sales pipeline and a renewals one. */
  pipelines?: Record<string, readonly string[]>;
}

/**
 * A HubSpot account as a private app meets it: the token carries scopes and a call outside them answers `403`
 * `MISSING_SCOPES` naming the scopes it needs; the account has several deal pipelines, each deal lives in one, and a
 * `dealstage` of another pipeline is refused; scripted failures answer in HubSpot's error shapes.
 */
export class HubSpotStandIn extends withFailureScripting(HubSpotSandbox) {
  readonly pipelines: Record<string, readonly string[]>;
  private granted: Set<string>;
  private nextSeededNote = 1_000_000;

  constructor(options: HubSpotStandInOptions = {}) {
    super(options);
    this.granted = new Set(options.scopes ?? HUBSPOT_WRITE_BACK_SCOPES);
    this.pipelines = options.pipelines ?? {
      [HUBSPOT_DEFAULT_PIPELINE.id]: HUBSPOT_DEFAULT_PIPELINE.stages,
      [HUBSPOT_RENEWALS_PIPELINE.id]: HUBSPOT_RENEWALS_PIPELINE.stages,
    };
  }

  /** The scopes the token carries from now on, as when an admin edits the private app's scopes. */
  grantScopes(scopes: readonly string[]): void {
    this.granted = new Set(scopes);
  }

  /** Creates (or resets) a deal in `dealstage`, in the pipeline that holds that stage unless `pipeline` is named. */
  override addDeal(id: string, dealstage: string, pipeline = this.pipelineOfStage(dealstage)): void {
    super.addDeal(id, dealstage);
    const deal = this.deal(id);
    if (deal && pipeline !== undefined) deal.pipeline = pipeline;
  }

  /** The id of the pipeline the deal is in. */
  pipelineOf(id: string): string | undefined {
    return this.deal(id)?.pipeline as string | undefined;
  }

  /** A person moves the deal; a stage of another pipeline takes the deal to that pipeline. */
  override moveDeal(id: string | number, value: CrmStageValue): void {
    super.moveDeal(id, value);
    const pipeline = value.field === 'dealstage' ? this.pipelineOfStage(String(value.value)) : undefined;
    const deal = this.deal(String(id));
    if (deal && pipeline !== undefined) deal.pipeline = pipeline;
  }

  /** `count` older notes on the deal, written by people before Stageflow's (so their ids come first). */
  seedNotes(dealId: string, count: number, text = 'A call with the buyer'): void {
    for (let i = 0; i < count; i += 1) {
      this.nextSeededNote += 1;
      this.addNoteTo(dealId, String(this.nextSeededNote), text);
    }
  }

  protected override route(request: SandboxRequest, authenticated: boolean): SandboxAnswer {
    if (!authenticated) return super.route(request, authenticated);
    const needed = requiredScopes(request);
    const missing = needed.filter((scope) => !this.granted.has(scope));
    if (missing.length > 0) return missingScopes(missing);
    const refused = this.stageOutsidePipeline(request);
    if (refused) return refused;
    const answer = super.route(request, authenticated);
    const moved = answer.status === 200 && this.requestedPipeline(request);
    const deal = moved ? this.deal(moved.id) : undefined;
    if (deal && moved) deal.pipeline = moved.pipeline;
    return answer;
  }

  /** A `dealstage` that is no stage of the deal's pipeline (or of the `pipeline` the same PATCH sets): HubSpot's 400. */
  private stageOutsidePipeline(request: SandboxRequest): SandboxAnswer | undefined {
    const id = dealPatched(request);
    const properties = isObject(request.json) && isObject(request.json.properties) ? request.json.properties : {};
    if (id === undefined || properties.dealstage === undefined || !this.deal(id)) return undefined;
    const pipeline = String(properties.pipeline ?? this.pipelineOf(id) ?? HUBSPOT_DEFAULT_PIPELINE.id);
    const stage = String(properties.dealstage);
    if (this.pipelines[pipeline]?.includes(stage)) return undefined;
    return hubspotError(
      400,
      'VALIDATION_ERROR',
      `Property values were not valid: [{"isValid":false,"message":"${stage} was not one of the allowed options for pipeline ${pipeline}","error":"INVALID_OPTION","name":"dealstage"}]`,
    );
  }

  private requestedPipeline(request: SandboxRequest): { id: string; pipeline: string } | undefined {
    const id = dealPatched(request);
    const properties = isObject(request.json) && isObject(request.json.properties) ? request.json.properties : {};
    if (id === undefined) return undefined;
    const pipeline =
      properties.pipeline !== undefined
        ? String(properties.pipeline)
        : properties.dealstage !== undefined
          ? this.pipelineOfStage(String(properties.dealstage))
          : undefined;
    return pipeline === undefined ? undefined : { id, pipeline };
  }

  private pipelineOfStage(dealstage: string): string | undefined {
    return Object.entries(this.pipelines).find(([, stages]) => stages.includes(dealstage))?.[0];
  }

  protected override failureAnswer(failure: ScriptedFailure): SandboxAnswer {
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
        return missingScopes(['crm.objects.contacts.write']);
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

/** The id of the deal a `PATCH /crm/v3/objects/deals/{id}` writes. */
function dealPatched({ method, path }: SandboxRequest): string | undefined {
  const match = method === 'PATCH' ? path.match(/^\/crm\/v3\/objects\/deals\/([^/]+)$/) : null;
  return match ? decodeURIComponent(match[1] as string) : undefined;
}

/**
 * The scopes HubSpot's API reference lists for each call write-back makes: deals for the deal, and the contacts
 * scopes for notes (the notes API requires them), reading and writing.
 */
function requiredScopes({ method, path }: SandboxRequest): string[] {
  if (method === 'PATCH' && path.startsWith('/crm/v3/objects/deals/')) return ['crm.objects.deals.write'];
  if (method === 'POST' && path === '/crm/v3/objects/notes') return ['crm.objects.contacts.write'];
  if (method === 'POST' && path === '/crm/v3/objects/notes/batch/read') return ['crm.objects.contacts.read'];
  if (method === 'GET' && /^\/crm\/v4\/objects\/deals\/[^/]+\/associations\/notes$/.test(path)) {
    return ['crm.objects.deals.read', 'crm.objects.contacts.read'];
  }
  return [];
}

/** HubSpot's answer to a call the token's scopes do not cover: `403`, category `MISSING_SCOPES`, the scopes needed. */
function missingScopes(scopes: string[]): SandboxAnswer {
  return {
    status: 403,
    body: {
      status: 'error',
      message:
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
      correlationId: randomUUID(),
      errors: [
        { message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: scopes } },
      ],
      links: { scopes: 'https://developers.hubspot.com/scopes' },
      category: 'MISSING_SCOPES',
    },
  };
}
