import { inject } from 'vitest';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { signGeneric, signHubspot } from '../fixtures/signing.ts';

/** HTTP helpers for tests that drive the local stack as a CRM, an approver or an API client would. */

export function stackUrls() {
  return inject('stack');
}

export interface GenericEvent {
  eventId: string;
  dealId: string;
  pipeline?: string;
  stage?: string;
  occurredAt?: string;
  dealName?: string;
  owner?: { email?: string; name?: string };
  fields?: Record<string, unknown>;
}

let sequence = 0;
/** A unique id per test run, so tests sharing one stack never collide. */
export function uniqueId(prefix: string): string {
  sequence++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${sequence}`;
}

/** A unique positive integer per test run, for CRMs whose ids are numbers (HubSpot's objectId and eventId). */
export function uniqueNumber(): number {
  sequence++;
  return Date.now() * 1000 + (sequence % 1000);
}

export async function postGeneric(
  event: GenericEvent | string,
  options: { secret?: string; timestamp?: number; headers?: Record<string, string>; api?: string } = {},
) {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const signature = signGeneric(body, options.secret ?? DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET, options.timestamp);
  const response = await fetch(`${options.api ?? stackUrls().api}/webhooks/generic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stageflow-signature': signature, ...options.headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A HubSpot webhooks v3 batch, signed as HubSpot signs it (CONTRACT 3.2), posted to the stack. */
export async function postHubspot(events: Record<string, unknown>[], api = stackUrls().api) {
  const url = `${api}/webhooks/hubspot`;
  const body = JSON.stringify(events);
  const timestamp = Date.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': signHubspot(body, DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET, url, timestamp),
      'x-hubspot-request-timestamp': String(timestamp),
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function getDeal(dealId: string, pipeline = 'default', api = stackUrls().api) {
  const response = await fetch(`${api}/deals/${encodeURIComponent(dealId)}?pipeline=${pipeline}`);
  return { status: response.status, body: (await response.json()) as DealView };
}

export interface DealView {
  dealId: string;
  stage: string;
  status: string;
  configVersion: string;
  fields: Record<string, unknown>;
  approvals: { approvalId: string; role: string; status: string; decidedBy: string | null }[];
  pendingMove: { to: string; requestedAt: string } | null;
  history: { type: string; from: string | null; to: string | null; outcome: string; eventId: string | null }[];
}

/** Fields that satisfy each default stage's exit criteria (CONTRACT section 4). */
export const EXIT_FIELDS: Record<string, Record<string, unknown>> = {
  identify: { decisionMaker: 'Jane Roe', firstMeetingDate: '2026-11-20' },
  qualify: { champion: 'Sam Champion', budgetConfirmed: true },
  propose: { decisionCriteria: 'ROI in 12 months', quoteId: 'Q-1', pricingPresented: true, closePlan: 'Sign by Dec' },
  negotiate: { signaturePackageReady: true, signatureDate: '2026-12-10', kickoffDate: '2027-01-05' },
  deliver: { contractSigned: true, orderFormSigned: true },
};

/** Moves a new deal forward stage by stage, each event bringing the fields the stage needs to be left. */
export async function dealAt(
  stage: string,
  options: { dealId?: string; extraFields?: Record<string, unknown>; api?: string } = {},
): Promise<string> {
  const dealId = options.dealId ?? uniqueId('D');
  const order = ['identify', 'qualify', 'propose', 'negotiate', 'deliver'];
  let fields: Record<string, unknown> = { ...options.extraFields };
  for (const key of order.slice(0, order.indexOf(stage) + 1)) {
    const result = await postGeneric(
      {
        eventId: uniqueId('E'),
        dealId,
        stage: key,
        dealName: `Deal ${dealId}`,
        owner: { email: 'rep@example.com', name: 'Riley Rep' },
        fields,
      },
      { api: options.api },
    );
    if (result.body.outcome !== 'applied') {
      throw new Error(`could not bring ${dealId} to ${key}: ${JSON.stringify(result.body)}`);
    }
    fields = { ...EXIT_FIELDS[key] };
  }
  return dealId;
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
