import { inject } from 'vitest';
import { ApiClient, type GenericEvent, type WebhookSigners } from '../../infra/local/api-client.ts';
import { EXIT_FIELDS, OPEN_STAGES, type OpenStage, STORY_DEAL } from '../../infra/local/default-story.ts';
import { DEVELOPMENT_SECRETS } from '../../infra/local/stack.ts';
import { signGeneric, signHubspot } from '../fixtures/signing.ts';

/** HTTP helpers for tests that drive the local stack as a CRM, an approver or an API client would. */

export type { GenericEvent };

export function stackUrls() {
  return inject('stack');
}

/** The tests sign with the signers written from the vendors' docs, not with Stageflow's own sender side. */
const VENDOR_SIGNERS: WebhookSigners = {
  generic: (secret, body, t) => signGeneric(body, secret, t),
  hubspot: (secret, url, body) => {
    const timestamp = Date.now();
    return {
      'x-hubspot-signature-v3': signHubspot(body, secret, url, timestamp),
      'x-hubspot-request-timestamp': String(timestamp),
    };
  },
};

/** A client of the stack at `api` (the shared test stack by default), signing with the development secrets. */
export function apiClient({ api = stackUrls().api, ses }: { api?: string; ses?: string } = {}): ApiClient {
  const secrets = {
    generic: DEVELOPMENT_SECRETS.GENERIC_WEBHOOK_SECRET,
    hubspot: DEVELOPMENT_SECRETS.HUBSPOT_CLIENT_SECRET,
  };
  return new ApiClient({ api, ses, secrets, signers: VENDOR_SIGNERS });
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
  const { status, body } = await apiClient({ api: options.api }).postGeneric(event, options);
  return { status, body: body as Record<string, unknown> };
}

/** A HubSpot webhooks v3 batch, signed as HubSpot signs it, posted to the stack. */
export async function postHubspot(events: Record<string, unknown>[], api?: string) {
  const { status, body } = await apiClient({ api }).postHubspot(events);
  return { status, body: body as Record<string, unknown> };
}

export async function getDeal(dealId: string, pipeline = 'default', api?: string) {
  const { status, body } = await apiClient({ api }).getDeal(dealId, pipeline);
  return { status, body: body as DealView };
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

/** Moves a new deal forward stage by stage, each event bringing the fields the stage needs to be left. */
export async function dealAt(
  stage: OpenStage,
  options: { dealId?: string; extraFields?: Record<string, unknown>; api?: string; pipeline?: string } = {},
): Promise<string> {
  const dealId = options.dealId ?? uniqueId('D');
  let fields: Record<string, unknown> = { ...options.extraFields };
  for (const key of OPEN_STAGES.slice(0, OPEN_STAGES.indexOf(stage) + 1)) {
    const result = await postGeneric(
      {
        eventId: uniqueId('E'),
        dealId,
        ...(options.pipeline ? { pipeline: options.pipeline } : {}),
        stage: key,
        dealName: `Deal ${dealId}`,
        owner: STORY_DEAL.owner,
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
