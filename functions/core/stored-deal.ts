import type { Deal, Decision, Outcome, Source } from './deal.ts';
import type { Reason } from './decide/reasons.ts';

/** What the workflow needs on the deal item: which execution runs it and the task token it waits on. */
export interface WorkflowState {
  executionArn: string | null;
  /** Bumped each time a new execution takes over the deal (continue-as-new, restart). */
  generation: number;
  waitToken: string | null;
  waitStage: string | null;
  /** The stage visit whose entry guidance was already emailed to the owner. */
  notifiedVisit: number;
}

/** What kind of input a decision answered. */
/** `reroute`: a delegation started or ended, so whom pending approvals ask was worked out again. */
export type DecisionKind = 'event' | 'approval' | 'expiry' | 'config' | 'reminder' | 'reroute' | 'crm_sync';

/**
 * The decision the deal was last written with: the side effects are derived from a deal's state before and after a
 * write, and this says what happened between them. Workflow-only writes keep it as it is, so a write whose
 * `lastDecision.version` did not change carries no decision.
 */
export interface LastDecision {
  /** The deal version this decision was written at. */
  version: number;
  kind: DecisionKind;
  outcome: Outcome;
  reasons: Reason[];
  eventId: string | null;
  source: Source | 'approval' | 'workflow' | 'config' | null;
  /** Who made the change at the source (a CRM's own marker), when the source says. */
  origin?: string;
  at: string;
  occurredAt?: string;
  /** The stage the event asked for (a refused or held move's target). */
  target?: string;
  /** The approval a reminder, expiry or approver's decision is about. */
  approvalId?: string;
  /** True when the event was Stageflow's own CRM write coming back: it never moves the deal. */
  echo?: boolean;
  /**
   * True when an echo named another stage than the deal's: the CRM shows a stage Stageflow wrote earlier, which
   * landed after a newer move. The write-back then sets the CRM to the deal's stage once, so both end the same.
   */
  reconcile?: boolean;
}

/** The CRM a deal came from, and Stageflow's recent stage writes to it: an echo of one of them never moves the deal. */
export interface CrmState {
  source: 'hubspot' | 'pipedrive' | 'salesforce';
  writes: { stage: string; at: string }[];
  /** The deal's pipeline in the CRM (HubSpot pipeline id, Pipedrive `pipeline_id`, Salesforce `RecordTypeId`). */
  pipeline?: string;
  /** HubSpot: the portal (account) the deal lives in. */
  portalId?: string;
  /** Salesforce: the org's instance URL. */
  instanceUrl?: string;
  /** Pipedrive: the company's domain (`acme.pipedrive.com`). */
  host?: string;
}

/** A deal as stored: the deal, its version (the optimistic lock), its workflow state and what was last decided. */
export interface StoredDeal {
  deal: Deal;
  version: number;
  workflow: WorkflowState;
  lastDecision?: LastDecision;
  crm?: CrmState;
}

/** One decision to store: the deal as read before deciding, the decision, and what changes with it. */
export interface DealWrite {
  /** The deal as read before deciding (null for a new deal): its version is the write condition. */
  before: StoredDeal | null;
  decision: Decision;
  /** Changes to the workflow state written with the deal. */
  workflow?: Partial<WorkflowState>;
  /** What was decided, for the side effects; the stored version is stamped on it. */
  lastDecision?: Omit<LastDecision, 'version'>;
  /** Stageflow's CRM writes, when this write records one. */
  crm?: CrmState;
}

/** The workflow state of a deal no execution has taken yet. */
const NEW_WORKFLOW: WorkflowState = {
  executionArn: null,
  generation: 0,
  waitToken: null,
  waitStage: null,
  notifiedVisit: 0,
};

/** The deal as a write stores it (the deal as it was when the decision changes nothing). */
export function storedAfter({ before, decision, workflow, lastDecision, crm }: DealWrite): StoredDeal | null {
  if (!decision.deal) return before;
  const version = (before?.version ?? 0) + 1;
  const stored: StoredDeal = {
    deal: decision.deal,
    version,
    workflow: { ...(before?.workflow ?? NEW_WORKFLOW), ...workflow },
  };
  const decided = lastDecision ? { ...lastDecision, version } : before?.lastDecision;
  if (decided) stored.lastDecision = decided;
  const crmState = crm ?? before?.crm;
  if (crmState) stored.crm = crmState;
  return stored;
}
