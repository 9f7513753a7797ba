import type { Reason } from './decide/reasons.ts';

/**
 * The deal model and the decisions the core takes about it. Plain data only: no AWS, no I/O.
 */

/** Where an event came from. */
export const SOURCES = ['generic', 'hubspot', 'pipedrive', 'salesforce'] as const;
export type Source = (typeof SOURCES)[number];

/**
 * The longest deal id or event id taken, in characters: ids are parts of DynamoDB keys (at most 2,048 bytes), and
 * no CRM's ids come near it.
 */
export const MAX_ID_LENGTH = 256;

/** A deal field's value as stored; `null` in an event removes the field. */
export type Fields = Record<string, unknown>;

export interface Owner {
  email?: string;
  name?: string;
}

/**
 * One CRM event in canonical form, whatever the source. Adapters in `functions/sources` produce it;
 * the core decides on it.
 */
export interface StageEvent {
  source: Source;
  /** Unique per source: the deduplication key (HubSpot's is composite, see the HubSpot adapter). */
  eventId: string;
  pipeline: string;
  dealId: string;
  /** The stage key the deal should move to (already mapped from the CRM's value); absent for a field update. */
  stage?: string;
  /** ISO timestamp of when the change happened at the source; orders events. */
  occurredAt: string;
  dealName?: string;
  owner?: Owner;
  /** Merged into the deal's fields before the move is judged; `null` removes a field. */
  fields: Fields;
  /**
   * Who made the change at the source, as the CRM marks it (HubSpot `changeSource`/`sourceId`, Pipedrive
   * `meta.change_source`/`user_id`, Salesforce `LastModifiedById`), e.g. `INTEGRATION:userId:45678`; lets Stageflow
   * recognise its own write-back coming back.
   */
  origin?: string;
  /** What the CRM did to the deal record itself: deleted it, or restored it from its recycle bin. */
  lifecycle?: 'deleted' | 'restored';
  /** Where the deal lives in its CRM, as far as this event tells: kept on the stored deal (`CrmState`). */
  crm?: CrmFacts;
  /**
   * The CRM pipeline the deal came from, when this event brings it over from a pipeline another Stageflow pipeline
   * (or none) manages: a deal arriving is judged as a creation, with its origin in the history.
   */
  arrivedFrom?: string;
}

/** Where a deal lives in its CRM: the CRM's pipeline, and the account (HubSpot portal, Salesforce instance). */
export interface CrmFacts {
  /** HubSpot pipeline id, Pipedrive `pipeline_id` or Salesforce `RecordTypeId`. */
  pipeline?: string;
  /** HubSpot: the portal (account) the deal lives in. */
  portalId?: string;
  /** Salesforce: the org's instance URL (its origin). */
  instanceUrl?: string;
  /** Pipedrive: the company's domain (`meta.host` of its webhooks, e.g. `acme.pipedrive.com`). */
  host?: string;
}

/**
 * `ignored`: the event is about a deal Stageflow does not manage (a CRM pipeline no Stageflow pipeline manages, a
 * merged-away or deleted deal); nothing is decided and nothing is written back.
 */
export const OUTCOMES = ['applied', 'pending_approval', 'rejected', 'duplicate', 'stale', 'ignored'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** A person, as an approval names who was asked, who decided, and on whose behalf. */
export interface Person {
  email: string;
  name: string | null;
}

/**
 * One person's request within an approval: each person asked gets their own review link. A delegate's request names
 * the person it stands in for (`onBehalfOf`). `withdrawn`: the approver's routing changed (a delegation started or
 * ended, a new config version), so this person's link no longer decides.
 */
export interface ApprovalAsk extends Person {
  /** Names the request within its approval: the review link's token is bound to it. */
  askId: string;
  onBehalfOf: Person | null;
  status: 'pending' | 'approved' | 'rejected' | 'withdrawn';
  askedAt: string;
  decidedAt: string | null;
}

/** One approval request to one role. Its token hash and task token live with the approval item, not here. */
export interface Approval {
  approvalId: string;
  role: string;
  /** The stage whose handoff or exit gate this approval validates. */
  stage: string;
  /** The deal's stage visit the request belongs to; a request from an earlier visit never counts. */
  visit: number;
  /** `entry`: asked on entering the stage; `exit`: asked because a move out of the stage needs it. */
  kind: 'entry' | 'exit';
  reason: string;
  status: ApprovalStatus;
  requestedAt: string;
  remindAt: string;
  expiresAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
  /** The workflow execution that runs this request's reminder and expiry timers; null until one picks it up. */
  runBy: string | null;
  /**
   * The deal's values that the approval's condition (`when`) looked at when it was asked, e.g. `{discountPercent: 25}`:
   * what the approver approves. A change to them while the approval is pending (or after it was granted, before the
   * move applies) asks again. Absent for approvals without a condition.
   */
  conditionValues?: Fields;
  /** Who was asked, each with their own link (absent on approvals stored before per-person requests). */
  asks?: ApprovalAsk[];
  /** For a group: `any` — the first decision decides; `all` — every member must approve (absent: one person). */
  decide?: 'any' | 'all';
  /** When a delegation starts or ends before the approval expires: who is asked is worked out again then. */
  rerouteAt?: string | null;
  /** The person the decider stood in for (a delegate's decision), as a label. */
  onBehalfOf?: string | null;
}

/**
 * `config`: the deal moved to a new config version (`from`/`to` are versions), see `core/migrate.ts`.
 * `effect_failed`: a side effect of the decision was given up (`effect`, `error`); see docs/failure-model.md.
 * `left`: the CRM moved the deal to a CRM pipeline this Stageflow pipeline does not manage (`to` names it);
 * `merged`: other CRM deals were merged into this one (`from` lists them); `merged_into`: this deal was merged into
 * another (`to`); `deleted` / `restored`: the CRM deleted the deal, or restored it.
 */
export const HISTORY_TYPES = [
  'created',
  'move',
  'fields',
  'approval',
  'echo',
  'crm_sync',
  'config',
  'effect_failed',
  'left',
  'merged',
  'merged_into',
  'deleted',
  'restored',
] as const;
export type HistoryType = (typeof HISTORY_TYPES)[number];

export interface HistoryEntry {
  /** When Stageflow recorded the entry. */
  at: string;
  /** When the event behind the entry happened at its source (the CRM's time); absent when no event caused it. */
  occurredAt?: string;
  type: HistoryType;
  /**
   * A stage key; for a `created` entry of a deal that arrived from another CRM pipeline, that pipeline; for a
   * `merged` entry, the CRM deals merged into this one.
   */
  from: string | string[] | null;
  to: string | null;
  /** A decision's outcome; for a `crm_sync` entry, whether the write-back landed. */
  outcome: Outcome | 'synced' | 'failed';
  eventId: string | null;
  source: Source | 'approval' | null;
  reasons: Reason[];
  /** For an `approval` entry: which request ended, and how. */
  approval?: {
    approvalId: string;
    role: string;
    status: ApprovalStatus;
    decidedBy: string | null;
    /** A delegate's decision: the person they stood in for. */
    onBehalfOf?: string | null;
  };
  /** For a `config` entry whose new version retired the deal's stage: the stage it left and the one it moved to. */
  stage?: { from: string; to: string };
  /** For an `echo` entry: the origin marker the CRM sent with Stageflow's own write coming back. */
  origin?: string;
  /** For a `crm_sync` entry: the CRM's answer (HTTP status) to the write-back. */
  status?: number;
  /** For a `crm_sync` entry: the CRM written to. */
  crm?: Source;
  /** For an `effect_failed` entry: the side effect given up (`owner:stage`, `projection:insights`, …). */
  effect?: string;
  /** For an `effect_failed` entry: why, as the error said. */
  error?: string;
}

export interface PendingMove {
  to: string;
  requestedAt: string;
  eventId: string | null;
  /** occurredAt of the event that asked for the move: it becomes the deal's `stageEventAt` when the move applies. */
  occurredAt?: string;
}

/**
 * A move that arrived before the deal existed (CRMs reorder events): the deal was created in its start stage with
 * the event's fields, and the move is judged when the next event for the deal arrives, in time order with it.
 */
export interface HeldMove {
  to: string;
  eventId: string;
  source: Source;
  occurredAt: string;
}

/**
 * `left`, `merged` and `deleted` end a deal without closing it: the CRM moved it to a pipeline this one does not
 * manage, merged it into another deal, or deleted it. An ended deal is off the board, takes no moves and is never
 * written back to.
 */
export const ENDED_STATUSES = ['left', 'merged', 'deleted'] as const;
export type EndedStatus = (typeof ENDED_STATUSES)[number];
export type DealStatus = 'open' | 'won' | 'lost' | EndedStatus;

/** True for a deal that has left this pipeline, was merged away or deleted in its CRM. */
export function isEnded(status: DealStatus): status is EndedStatus {
  return (ENDED_STATUSES as readonly string[]).includes(status);
}

/** The approvals of the deal's current stage visit still waiting for a decision. */
export function pendingApprovals(deal: Pick<Deal, 'approvals' | 'visit'>): Approval[] {
  return deal.approvals.filter((approval) => approval.status === 'pending' && approval.visit === deal.visit);
}

export interface Deal {
  pipeline: string;
  dealId: string;
  dealName: string | null;
  owner: Owner | null;
  stage: string;
  status: DealStatus;
  /** The config version the deal started on; it is evaluated under it for its whole life. */
  configVersion: string;
  fields: Fields;
  /** occurredAt of the newest event that set each field: an older event never overrides a newer value. */
  fieldTimes: Record<string, string>;
  /** occurredAt of the event that decided the current stage: an older move is stale. */
  stageEventAt: string;
  /** occurredAt of the newest event recorded for this deal. */
  lastEventAt: string;
  /** Counts stage entries; approvals belong to one visit. */
  visit: number;
  approvals: Approval[];
  pendingMove: PendingMove | null;
  /** A move that came before the deal's creation, judged with the next event (absent on deals stored before it). */
  heldMove?: HeldMove | null;
  /** For a `merged` deal: the CRM deal it was merged into. */
  mergedInto?: string;
  createdAt: string;
  updatedAt: string;
}

/** What the rules decided for one event: the body of the webhook's `202` answer, also kept with the event record. */
export interface EventResult {
  outcome: Outcome;
  dealId: string;
  /** The deal's stage after the event; null when a refused first event created no deal. */
  stage: string | null;
  reasons: Reason[];
}

/** The approval timing in force for a new request, in seconds (pipeline values, or the local overrides). */
export interface ApprovalTiming {
  reminderSeconds: number;
  expirySeconds: number;
}

/** What the core needs from outside to decide: the clock, id generation and the approval timing. */
export interface DecisionContext {
  now: string;
  newApprovalId: () => string;
  timing: ApprovalTiming;
}

/** The core's answer to one input: the outcome and the deal as it must be stored. */
export interface Decision {
  outcome: Outcome;
  reasons: Reason[];
  /** The deal after the decision (as it was for `stale` with nothing new); null when a refused first event created none. */
  deal: Deal | null;
  /** History entries to append, in order. */
  history: HistoryEntry[];
  /** Approvals this decision created (now `pending`): their emails must go out. */
  requested: Approval[];
  /** Approvals this decision ended (decided, cancelled or expired): their waiting workflow tasks must be released. */
  ended: Approval[];
  /** True when the deal entered a different stage. */
  moved: boolean;
}
