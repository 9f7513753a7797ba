import { genericSignatureHeader } from '../functions/sources/generic.ts';

/**
 * The benchmark's CRM: signed generic webhooks (CONTRACT section 3.1) and the story of one deal through the default
 * pipeline. Kept free of the local stack's modules so the load senders' worker thread loads little.
 */

/** A generic webhook event as a CRM sends it. */
export interface GenericEvent {
  eventId: string;
  dealId: string;
  pipeline?: string;
  stage?: string;
  dealName?: string;
  owner?: { email: string; name: string };
  fields?: Record<string, unknown>;
}

/** The body and headers of one delivery, signed now (CONTRACT 3.1). */
export function signedDelivery(event: GenericEvent, secret: string): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(event);
  return {
    body,
    headers: { 'content-type': 'application/json', 'stageflow-signature': genericSignatureHeader(secret, body) },
  };
}

export interface Delivery {
  status: number;
  /** The `outcome` of a 202 answer, or the status when there is none. */
  outcome: string;
  /** From just before the request until the answer's body was read. */
  ms: number;
}

/** Posts one event to `POST /webhooks/generic` and times it. */
export async function postGeneric(api: string, secret: string, event: GenericEvent): Promise<Delivery> {
  const { body, headers } = signedDelivery(event, secret);
  const start = performance.now();
  const response = await fetch(`${api}/webhooks/generic`, { method: 'POST', headers, body });
  const text = await response.text();
  const ms = performance.now() - start;
  let outcome = `HTTP ${response.status}`;
  if (response.status === 202) outcome = (JSON.parse(text) as { outcome?: string }).outcome ?? outcome;
  return { status: response.status, outcome, ms };
}

/**
 * From each open stage of the default pipeline to the next: the exit fields a field update brings first, the move,
 * and the rest of the exit fields the move brings itself (CONTRACT section 4).
 */
const STEPS = [
  { update: { decisionMaker: 'Jane Roe' }, to: 'qualify', with: { firstMeetingDate: '2026-11-20' } },
  { update: { champion: 'Sam Champion' }, to: 'propose', with: { budgetConfirmed: true } },
  {
    update: { decisionCriteria: 'ROI within 12 months', quoteId: 'Q-2041' },
    to: 'negotiate',
    with: { pricingPresented: true, closePlan: 'Sign before quarter end', discountPercent: 10 },
  },
  {
    update: { signaturePackageReady: true, signatureDate: '2026-12-10' },
    to: 'deliver',
    with: { kickoffDate: '2027-01-05' },
  },
  { update: { contractSigned: true, orderFormSigned: true }, to: 'closed_won', with: {} },
];

/**
 * The 11 events of a deal won without detours: created at `identify`, then per stage a field update and a move. The
 * first 10 bring it to `deliver` (where Finance and Legal are asked) with the fields to close; the last asks to close
 * it won, which waits for their approvals.
 */
export function dealStory(dealId: string, eventPrefix: string): GenericEvent[] {
  const events: GenericEvent[] = [
    {
      eventId: `${eventPrefix}-0`,
      dealId,
      stage: 'identify',
      dealName: `Bench deal ${dealId}`,
      owner: { email: 'rep@example.com', name: 'Riley Rep' },
      fields: { amount: 48_000, currency: 'USD' },
    },
  ];
  for (const step of STEPS) {
    events.push({ eventId: `${eventPrefix}-${events.length}`, dealId, fields: step.update });
    events.push({ eventId: `${eventPrefix}-${events.length}`, dealId, stage: step.to, fields: step.with });
  }
  return events;
}
