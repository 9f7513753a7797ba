import type { CrmSource } from '../../core/pipeline-config.ts';

export type { CrmSource };

/** The CRM's own value for a stage: HubSpot dealstage / Salesforce StageName string, Pipedrive stage_id or status. */
export type CrmStageValue = { field: 'dealstage' | 'StageName' | 'stage_id' | 'status'; value: string | number };

/**
 * What one write-back call came to, after its retries.
 * `status` is the last HTTP status the CRM answered, or `0` when it never answered (network error, timeout).
 * `message` is short and comes from the CRM's error body (or the network error); it never holds a credential.
 */
export interface CrmCallResult {
  ok: boolean;
  status: number;
  attempts: number;
  message?: string;
  /** Set on a failure that a later call may fix (429, 5xx, no answer); absent on a success or a final refusal. */
  retryable?: true;
  /** How long the CRM asked to wait before the next call (`Retry-After`, Pipedrive's `x-ratelimit-reset`). */
  retryAfterMs?: number;
}

/**
 * A note telling of one decision. None of the three CRMs takes an idempotency key for a note, so the note carries its
 * `ref` and is looked for before it is written again whenever an earlier write may have been stored.
 */
export interface CrmNote {
  text: string;
  /** The decision it tells of, unique on the deal: `<pipeline>#<deal version>`. */
  ref: string;
  /** An earlier attempt began writing it and never recorded the outcome: look for it before writing. */
  inDoubt?: boolean;
}

/** Writes Stageflow's decisions to one CRM. Never throws: every outcome is a result. */
export interface CrmClient {
  source: CrmSource;
  /**
   * Sets the CRM deal's stage to `value` (from `crmStageValue`). `shown` is the value the CRM deal shows now as far
   * as Stageflow knows (the move it refused or holds), when there is one: a Pipedrive deal marked won or lost is
   * reopened on its way back to an open stage.
   */
  setStage(crmDealId: string, value: CrmStageValue, shown?: CrmStageValue | null): Promise<CrmCallResult>;
  /**
   * Adds a plain-text note to the CRM deal (a Salesforce completed Task), once: when its write may have been stored
   * without an answer (no answer, a 5xx) or `note.inDoubt`, the deal's notes are searched for its `ref` first.
   */
  addNote(crmDealId: string, note: CrmNote): Promise<CrmCallResult>;
}
