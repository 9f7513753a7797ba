import { Logger } from '@aws-lambda-powertools/logger';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CrmCallResult, CrmClient, CrmNote, CrmStageValue } from '../../functions/adapters/crm/types.ts';
import type { DealRepository } from '../../functions/adapters/deal-repository.ts';
import type { StageEvent } from '../../functions/core/deal.ts';
import type { LastDecision, StoredDeal } from '../../functions/core/stored-deal.ts';
import { isOwnEcho } from '../../functions/usecases/echoes.ts';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { writeBackPlan } from '../../functions/usecases/effects/crm-write-back.ts';
import { applySideEffects } from '../../functions/usecases/side-effects.ts';
import { sweepWriteBacks } from '../../functions/usecases/write-back/runs.ts';
import { DEFAULT_RETRY_SCHEDULE } from '../../functions/usecases/write-back/schedule.ts';
import {
  approvalServices,
  dealAwaitingApprovals,
  InMemoryDeals,
  pipeline,
  useTestSecrets,
} from '../support/approval-fakes.ts';
import { silentTelemetry } from '../support/telemetry.ts';

beforeAll(() => useTestSecrets());

const NOW = new Date('2026-11-27T11:00:00.000Z');
const ses = mockClient(SESv2Client);
const sfn = mockClient(SFNClient);

/** A HubSpot client that records what it was asked to write. */
class RecordingClient implements CrmClient {
  readonly source = 'hubspot' as const;
  readonly calls: { kind: 'stage' | 'note'; dealId: string; value?: CrmStageValue; note?: CrmNote }[] = [];
  answer: CrmCallResult = { ok: true, status: 200, attempts: 1 };
  async setStage(dealId: string, value: CrmStageValue) {
    this.calls.push({ kind: 'stage', dealId, value });
    return this.answer;
  }
  async addNote(dealId: string, note: CrmNote) {
    this.calls.push({ kind: 'note', dealId, note });
    return this.answer;
  }
}

const refusal = (version: number): LastDecision => ({
  version,
  kind: 'event',
  outcome: 'rejected',
  reasons: [
    {
      code: 'EXIT_CRITERIA_UNMET',
      message: 'To leave identify, these must hold: decisionMaker is not empty.',
      stage: 'identify',
      missing: ['decisionMaker'],
    },
  ],
  eventId: 'hs-1',
  source: 'hubspot',
  at: NOW.toISOString(),
  target: 'qualify',
});

function hubspotDeal(stage: string, version: number, lastDecision: LastDecision): StoredDeal {
  return {
    deal: dealAwaitingApprovals({
      stage,
      approvals: [],
      pendingMove: null,
      fields: {},
      visit: stage === 'identify' ? 1 : 2,
    }),
    version,
    workflow: { executionArn: null, generation: 1, waitToken: null, waitStage: stage, notifiedVisit: 0 },
    lastDecision,
    crm: { source: 'hubspot', writes: [] },
  };
}

let deals: InMemoryDeals;
let client: RecordingClient;
let services: EffectServices;

beforeEach(() => {
  ses.reset();
  sfn.reset();
  ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  deals = new InMemoryDeals();
  client = new RecordingClient();
  services = approvalServices(deals, () => NOW);
});

function store(stored: StoredDeal): void {
  deals.deals.clear();
  deals.deals.set(`${stored.deal.pipeline}#${stored.deal.dealId}`, structuredClone(stored));
}

describe('writeBackPlan', () => {
  const refused = hubspotDeal('identify', 5, refusal(5));
  const change = { before: { ...refused, version: 4, lastDecision: undefined }, after: refused };

  it('sets a refused move back and notes why, with the missing fields by their descriptions', () => {
    const plan = writeBackPlan(change, refusal(5), pipeline.config);
    expect(plan?.setStage).toBe(true);
    expect(plan?.note).toContain('refused the move to Qualify');
    expect(plan?.note).toMatch(/Missing:\n- .*decisionMaker/);
  });

  it('writes nothing for a plain echo or a field update; an echo naming another stage sets the CRM back, no note', () => {
    expect(writeBackPlan(change, { ...refusal(5), echo: true }, pipeline.config)).toBeNull();
    expect(writeBackPlan(change, { ...refusal(5), echo: true, reconcile: true }, pipeline.config)).toEqual({
      setStage: true,
      note: null,
    });
    const { target: _target, ...fieldUpdate } = { ...refusal(5), outcome: 'applied' as const };
    expect(writeBackPlan(change, fieldUpdate, pipeline.config)).toBeNull();
  });
});

/** The outbox, then a write-back sweep at `at` (default NOW) with `crm` as the CRM's client. */
async function sweep(crm: CrmClient = client, at = NOW) {
  return sweepWriteBacks(
    {
      deals: deals as unknown as DealRepository,
      crm: async () => ({ hubspot: crm }),
      telemetry,
      logger,
      clock: () => at,
    },
    { runMs: 60_000 },
  );
}
const telemetry = silentTelemetry();
const logger = new Logger({ logLevel: 'SILENT' });
const later = (ms: number) => new Date(NOW.getTime() + ms);

describe('write-back: the outbox enqueues, the runs write', () => {
  it('sets the CRM back to the deal stage with a note, once, and records the sync in the history', async () => {
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    const change = { before: { ...after, version: 4, lastDecision: undefined }, after };
    await applySideEffects(change, services);
    await applySideEffects(change, services);
    // The outbox makes no CRM call: the write-back waits in the deal's queue.
    expect(client.calls).toEqual([]);
    expect(await deals.writeBacks.pending('default', after.deal.dealId)).toHaveLength(1);
    await sweep();
    await sweep();
    expect(client.calls.map((call) => call.kind)).toEqual(['stage', 'note']);
    // The owner is told once too: the refusal, with what is missing.
    const mails = ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
    expect(mails.map((mail) => mail.Content?.Simple?.Subject?.Data)).toEqual([
      'Move refused: Acme rollout stays in Identify',
    ]);
    expect(mails[0]?.Content?.Simple?.Body?.Text?.Data).toMatch(/Missing fields:\n- .*decisionMaker/);
    expect(client.calls[0]?.value).toEqual({ field: 'dealstage', value: 'appointmentscheduled' });
    const synced = deals.commits.at(-1);
    expect(synced?.decision.history).toEqual([
      expect.objectContaining({ type: 'crm_sync', outcome: 'synced', to: 'identify', status: 200 }),
    ]);
    expect(synced?.crm?.writes).toEqual([{ stage: 'identify', at: NOW.toISOString() }]);
  });

  it('a run cut off after its note was sent has the next run look for the note before writing it again', async () => {
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    await applySideEffects({ before: { ...after, version: 4, lastDecision: undefined }, after }, services);
    const crashing = new RecordingClient();
    crashing.addNote = async (dealId, note) => {
      crashing.calls.push({ kind: 'note', dealId, note });
      throw new Error('the process died before the outcome was recorded');
    };
    await sweep(crashing);
    await sweep();
    await sweep();

    expect(crashing.calls.find((call) => call.kind === 'note')?.note).toMatchObject({
      ref: 'default#5',
      inDoubt: false,
    });
    expect(client.calls.filter((call) => call.kind === 'note').map((call) => call.note)).toEqual([
      expect.objectContaining({ ref: 'default#5', inDoubt: true }),
    ]);
    expect(client.calls.filter((call) => call.kind === 'stage')).toEqual([]);
  });

  it('the race: a refused move whose set-back runs after the rep moved again never drags the deal back', async () => {
    const refused = hubspotDeal('identify', 5, refusal(5));
    store(refused);
    await applySideEffects({ before: { ...refused, version: 4, lastDecision: undefined }, after: refused }, services);
    // The rep fixed the fields and moved again; that applied before the set-back ran.
    store(hubspotDeal('qualify', 6, { ...refusal(6), outcome: 'applied', reasons: [] }));
    await sweep();
    expect(client.calls.map((call) => call.kind)).toEqual(['note']);
    expect(deals.stored.deal.stage).toBe('qualify');
  });

  it('a refusal (401) is recorded as failed at once', async () => {
    client.answer = { ok: false, status: 401, attempts: 1, message: 'bad token' };
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    await applySideEffects({ before: { ...after, version: 4, lastDecision: undefined }, after }, services);
    await sweep();
    expect(deals.commits.at(-1)?.decision.history[0]).toMatchObject({ outcome: 'failed', status: 401 });
    expect(await deals.writeBacks.pending('default', after.deal.dealId)).toEqual([]);
  });

  it('retries a 5xx on its schedule for the whole budget, then records it failed', async () => {
    client.answer = { ok: false, status: 503, attempts: 1, message: 'down', retryable: true };
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    await applySideEffects({ before: { ...after, version: 4, lastDecision: undefined }, after }, services);
    let at = NOW;
    for (let n = 0; n < 60; n++) {
      await sweep(client, at);
      const [item] = await deals.writeBacks.pending('default', after.deal.dealId);
      if (!item) break;
      at = new Date(Date.parse(item.dueAt));
    }
    const history = deals.commits.flatMap((commit) => commit.decision.history);
    expect(history).toEqual([expect.objectContaining({ type: 'crm_sync', outcome: 'failed', status: 503 })]);
    expect(at.getTime() - NOW.getTime()).toBeGreaterThanOrEqual(DEFAULT_RETRY_SCHEDULE.budgetMs);
  });

  it('waits as long as the CRM asks, however long, and never counts the wait as giving up', async () => {
    client.answer = { ok: false, status: 429, attempts: 1, retryable: true, retryAfterMs: 3_600_000 };
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    await applySideEffects({ before: { ...after, version: 4, lastDecision: undefined }, after }, services);
    await sweep();
    const [item] = await deals.writeBacks.pending('default', after.deal.dealId);
    expect(item?.dueAt).toBe(later(3_600_000).toISOString());
    await sweep(client, later(3_599_000));
    expect(client.calls).toHaveLength(1);
    client.answer = { ok: true, status: 200, attempts: 1 };
    await sweep(client, later(3_600_000));
    expect(deals.commits.at(-1)?.decision.history[0]).toMatchObject({ type: 'crm_sync', outcome: 'synced' });
  });

  it("keeps a deal's decisions in order: a later write-back waits behind an earlier one that is retried", async () => {
    client.answer = { ok: false, status: 429, attempts: 1, retryable: true, retryAfterMs: 60_000 };
    const first = hubspotDeal('identify', 5, refusal(5));
    store(first);
    await applySideEffects({ before: { ...first, version: 4, lastDecision: undefined }, after: first }, services);
    await sweep();
    const second = hubspotDeal('identify', 6, refusal(6));
    store(second);
    await applySideEffects({ before: first, after: second }, services);
    client.answer = { ok: true, status: 200, attempts: 1 };
    await sweep(client, later(1_000));
    expect(client.calls).toHaveLength(1);
    await sweep(client, later(60_000));
    expect(client.calls.filter((call) => call.kind === 'note').map((call) => call.note?.ref)).toEqual([
      'default#5',
      'default#6',
    ]);
  });

  it('marks an effect done even when a later step of the run fails, so the retry repeats no effect', async () => {
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    const change = { before: { ...after, version: 4, lastDecision: undefined }, after };
    const enqueue = deals.writeBacks.enqueue.bind(deals.writeBacks);
    deals.writeBacks.enqueue = async () => {
      deals.writeBacks.enqueue = enqueue;
      throw Object.assign(new Error('the table is unavailable'), { name: 'ServiceUnavailable' });
    };
    await expect(applySideEffects(change, services)).rejects.toThrow('unavailable');
    // The refusal email went out before the write-back failed: its mark was written with the run's release.
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
    expect(deals.effectsDone.get(`${after.deal.dealId}@5`)).toEqual(new Set(['owner:refused']));
    await applySideEffects(change, services);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(1);
    expect(await deals.writeBacks.pending('default', after.deal.dealId)).toHaveLength(1);
    expect(deals.effectsDone.get(`${after.deal.dealId}@5`)).toEqual(new Set(['owner:refused', 'crm']));
  });

  it('a run whose lease ran out cannot record: its successor does, once', async () => {
    const after = hubspotDeal('identify', 5, refusal(5));
    store(after);
    await applySideEffects({ before: { ...after, version: 4, lastDecision: undefined }, after }, services);
    const slow = new RecordingClient();
    let successor: Promise<unknown> = Promise.resolve();
    slow.setStage = async (dealId, value) => {
      slow.calls.push({ kind: 'stage', dealId, value });
      // Meanwhile the lease ran out and another run took the deal over.
      successor = sweep(client, later(120_000));
      await successor;
      return { ok: true, status: 200, attempts: 1 };
    };
    await sweep(slow);
    await successor;
    const history = deals.commits.flatMap((commit) => commit.decision.history);
    expect(history).toEqual([expect.objectContaining({ type: 'crm_sync', outcome: 'synced' })]);
    expect(slow.calls.filter((call) => call.kind === 'note')).toEqual([]);
  });
});

describe('echoes of Stageflow writes', () => {
  const moveTo = (stage: string, origin?: string): StageEvent => ({
    source: 'hubspot',
    eventId: 'hs-echo',
    pipeline: 'default',
    dealId: 'D-1001',
    stage,
    occurredAt: NOW.toISOString(),
    fields: {},
    ...(origin ? { origin } : {}),
  });
  const deal = { ...hubspotDeal('qualify', 7, refusal(7)), crm: { source: 'hubspot' as const, writes: [] } };
  const wroteIdentify = {
    ...deal,
    crm: { source: 'hubspot' as const, writes: [{ stage: 'identify', at: '2026-11-27T10:50:00.000Z' }] },
  };

  it('recognises the late echo of a value written recently, even after a newer move', () => {
    expect(isOwnEcho(moveTo('identify'), wroteIdentify, NOW)).toBe(true);
    expect(isOwnEcho(moveTo('identify', 'INTEGRATION:userId:1'), wroteIdentify, NOW)).toBe(true);
  });

  it("takes a person's move in the CRM as a move, whatever value Stageflow wrote", () => {
    expect(isOwnEcho(moveTo('identify', 'CRM_UI:userId:4321'), wroteIdentify, NOW)).toBe(false);
    expect(isOwnEcho(moveTo('identify'), deal, NOW)).toBe(false);
    expect(isOwnEcho(moveTo('identify'), wroteIdentify, new Date('2026-11-27T12:00:00.000Z'))).toBe(false);
  });

  it("recognises Stageflow's own API user by its configured id", () => {
    process.env.HUBSPOT_WRITE_BACK_SOURCE_ID = 'userId:777';
    try {
      expect(isOwnEcho(moveTo('propose', 'INTEGRATION:userId:777'), deal, NOW)).toBe(true);
      expect(isOwnEcho(moveTo('propose', 'INTEGRATION:userId:8'), deal, NOW)).toBe(false);
    } finally {
      delete process.env.HUBSPOT_WRITE_BACK_SOURCE_ID;
    }
  });

  it("tells Salesforce's integration user from a person by the user who changed the opportunity", () => {
    const salesforce = (stage: string, modifiedBy: string): StageEvent => ({
      ...moveTo(stage),
      source: 'salesforce',
      origin: modifiedBy,
    });
    const wrote = { ...wroteIdentify, crm: { ...wroteIdentify.crm, source: 'salesforce' as const } };
    expect(isOwnEcho(salesforce('identify', '005000000000001AAA'), wrote, NOW)).toBe(true);
    process.env.SALESFORCE_INTEGRATION_USER_ID = '005000000000001';
    try {
      expect(isOwnEcho(salesforce('identify', '005000000000001AAA'), wrote, NOW)).toBe(true);
      expect(isOwnEcho(salesforce('propose', '005000000000001'), deal, NOW)).toBe(true);
      expect(isOwnEcho(salesforce('identify', '005000000000777AAA'), wrote, NOW)).toBe(false);
    } finally {
      delete process.env.SALESFORCE_INTEGRATION_USER_ID;
    }
  });
});
