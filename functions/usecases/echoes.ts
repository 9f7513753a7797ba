import { OWN_CRM_ORIGINS, optionalEnv } from '../adapters/environment.ts';
import type { StageEvent } from '../core/deal.ts';
import type { CrmState, StoredDeal } from '../core/stored-deal.ts';

/** How long a stage value Stageflow wrote to a CRM deal is expected to come back as a webhook. */
export const ECHO_WINDOW_MS = 60 * 60 * 1000;

/** What a CRM's change marker says about who made a change. */
export type OriginVerdict = 'stageflow' | 'integration' | 'person' | 'unknown';

/**
 * Reads a CRM's origin marker (`StageEvent.origin`): Stageflow itself when it carries the configured id of Stageflow's
 * own API user, some integration when it says API/integration without that id, a person in the CRM's UI. Salesforce
 * names only the user who made the change (`LastModifiedById`): once Stageflow's integration user is configured, any
 * other user is a person (or another tool acting as one), whose move counts even when it names a stage Stageflow
 * wrote recently; unconfigured, the marker says nothing.
 */
export function originVerdict(event: Pick<StageEvent, 'source' | 'origin'>): OriginVerdict {
  if (!event.origin || event.source === 'generic') return 'unknown';
  const own = optionalEnv(OWN_CRM_ORIGINS[event.source]);
  switch (event.source) {
    case 'hubspot': {
      const [changeSource = '', ...rest] = event.origin.split(':');
      const sourceId = rest.join(':');
      if (own && sourceId === own) return 'stageflow';
      return ['INTEGRATION', 'API'].includes(changeSource.toUpperCase()) ? 'integration' : 'person';
    }
    case 'pipedrive': {
      const [changeSource = '', userId = ''] = event.origin.split(':');
      if (changeSource !== 'api') return changeSource === 'app' ? 'person' : 'unknown';
      return own && userId === own ? 'stageflow' : 'integration';
    }
    case 'salesforce':
      if (!own) return 'unknown';
      return sameSalesforceId(event.origin, own) ? 'stageflow' : 'person';
  }
}

/**
 * Salesforce ids come in a 15-character case-sensitive form and an 18-character form that adds a checksum suffix;
 * both name the same record.
 */
function sameSalesforceId(a: string, b: string): boolean {
  const base = (id: string) => (id.length === 18 ? id.slice(0, 15) : id);
  return base(a.trim()) === base(b.trim());
}

/** True when Stageflow wrote `stage` to this deal's CRM record within the echo window. */
export function wroteRecently(crm: CrmState | undefined, stage: string, now: Date): boolean {
  return (crm?.writes ?? []).some(
    (write) => write.stage === stage && now.getTime() - Date.parse(write.at) <= ECHO_WINDOW_MS,
  );
}

/**
 * Is this stage change Stageflow's own write-back coming back? Only a change to another stage than the
 * deal's can be (one naming the current stage moves nothing anyway). It is when the CRM marks it as Stageflow's
 * own user; when the marker says a person did it, it is not, whatever the value; otherwise (an unmarked or generic
 * integration change) it is when Stageflow wrote that stage to the deal recently.
 */
export function isOwnEcho(event: StageEvent, before: StoredDeal | null, now: Date): boolean {
  if (event.stage === undefined || before === null || event.source === 'generic') return false;
  if (event.stage === before.deal.stage) return false;
  const verdict = originVerdict(event);
  if (verdict === 'stageflow') return true;
  if (verdict === 'person') return false;
  return wroteRecently(before.crm, event.stage, now);
}
