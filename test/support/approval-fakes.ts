import { fileURLToPath } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import type { DealRepository } from '../../functions/adapters/deal-repository.ts';
import type { ApprovalBase, ApprovalRecord } from '../../functions/adapters/deals/approvals.ts';
import type { CommitInput } from '../../functions/adapters/deals/deals.ts';
import type { EffectRunClaim } from '../../functions/adapters/deals/effect-marks.ts';
import { type Lease, LeaseLostError } from '../../functions/adapters/deals/leases.ts';
import type { TransactPart } from '../../functions/adapters/deals/table-ref.ts';
import type { WriteBack, WriteBackProgress } from '../../functions/adapters/deals/write-backs.ts';
import { SECRET_NAMES } from '../../functions/adapters/environment.ts';
import type { InsightsStore } from '../../functions/adapters/insights-store.ts';
import { Mailer } from '../../functions/adapters/mailer.ts';
import type { PipelineCatalog } from '../../functions/adapters/pipeline-catalog.ts';
import { WorkflowClient } from '../../functions/adapters/workflow-client.ts';
import { hashApprovalToken, newApprovalToken } from '../../functions/core/approval-token.ts';
import type { Approval, Deal } from '../../functions/core/deal.ts';
import { ConcurrentUpdateError } from '../../functions/core/errors.ts';
import { type StoredDeal, storedAfter, type WorkflowState } from '../../functions/core/stored-deal.ts';
import type { DealChange } from '../../functions/usecases/deal-change.ts';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { applySideEffects } from '../../functions/usecases/side-effects.ts';
import { silentTelemetry } from './telemetry.ts';

/**
 * In-memory stand-ins for the approval use case: the few DealRepository methods it calls (with the optimistic lock of
 * the real one), the default pipeline, and real Mailer/WorkflowClient adapters whose SDK clients tests mock with
 * aws-sdk-client-mock. The real DynamoDB behaviour is covered by the integration tests.
 */

export const pipeline = loadPipelineConfig(fileURLToPath(new URL('../../stage-config/default.yaml', import.meta.url)));

export const PUBLIC_BASE_URL = 'http://127.0.0.1:3000';
export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:stageflow-default';
export const REQUESTED_AT = '2026-11-27T10:00:00.000Z';
export const EXPIRES_AT = '2026-11-30T10:00:00.000Z';
/** Every secret the functions load, set in the environment as `npm start` does locally. */
export function useTestSecrets(): void {
  for (const name of SECRET_NAMES) process.env[name] ??= `test-${name.toLowerCase()}`;
}

function pendingApproval(approvalId: string, role: string, reason: string): Approval {
  return {
    approvalId,
    role,
    stage: 'deliver',
    visit: 5,
    kind: 'entry',
    reason,
    status: 'pending',
    requestedAt: REQUESTED_AT,
    remindAt: '2026-11-28T10:00:00.000Z',
    expiresAt: EXPIRES_AT,
    decidedBy: null,
    decidedAt: null,
    comment: null,
    runBy: 'execution-1',
  };
}

/** A deal in Deliver/Finalize that meets the exit criteria and waits for Finance and Legal to close as won. */
export function dealAwaitingApprovals(overrides: Partial<Deal> = {}): Deal {
  return {
    pipeline: 'default',
    dealId: 'D-1001',
    dealName: 'Acme rollout',
    owner: { name: 'Riley Rep', email: 'rep@example.com' },
    stage: 'deliver',
    status: 'open',
    configVersion: pipeline.version,
    fields: { amount: 48000, currency: 'EUR', contractSigned: true, orderFormSigned: true },
    fieldTimes: {},
    stageEventAt: '2026-11-27T09:59:00.000Z',
    lastEventAt: '2026-11-27T09:59:00.000Z',
    visit: 5,
    approvals: [
      pendingApproval('apr-finance', 'finance', 'Finance validates the signed contract details'),
      pendingApproval('apr-legal', 'legal', 'Legal validates the signed contract details'),
    ],
    pendingMove: { to: 'closed_won', requestedAt: REQUESTED_AT, eventId: 'evt-won', occurredAt: REQUESTED_AT },
    createdAt: '2026-11-20T10:00:00.000Z',
    updatedAt: REQUESTED_AT,
    ...overrides,
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The deal and approval items of one table, with the deal's version as the write condition. */
export class InMemoryDeals {
  readonly deals = new Map<string, StoredDeal>();
  readonly approvals = new Map<string, ApprovalRecord>();
  readonly commits: CommitInput[] = [];
  /** Every committed change of the deal item, as the table's stream would deliver it. */
  readonly changes: DealChange[] = [];
  readonly effectsDone = new Map<string, Set<string>>();
  readonly effectLeases = new Map<string, Lease>();
  private readonly claimedRuns = new Set<string>();
  readonly writeBacks = new InMemoryWriteBacks();
  private leaseCount = 0;
  readonly notices = new Set<string>();
  conflicts = 0;
  /** Runs just before a commit is checked: lets a test make another writer win the race. */
  beforeCommit: (() => void) | undefined;

  constructor(deal: Deal = dealAwaitingApprovals()) {
    this.deals.set(dealKey(deal), {
      deal,
      version: 3,
      workflow: {
        executionArn: null,
        generation: 1,
        waitToken: 'stage-wait-token',
        waitStage: 'deliver',
        notifiedVisit: 5,
      },
    });
  }

  /** The stored deal (there is one). */
  get stored(): StoredDeal {
    const [stored] = this.deals.values();
    if (!stored) throw new Error('no deal stored');
    return stored;
  }

  /** Emails a review link for an approval: stores its token hash as the workflow task does, returns the token. */
  issueToken(approvalId: string): string {
    const token = newApprovalToken();
    const existing = this.approvals.get(approvalId);
    this.approvals.set(approvalId, {
      approvalId,
      pipeline: this.stored.deal.pipeline,
      dealId: this.stored.deal.dealId,
      role: this.stored.deal.approvals.find((a) => a.approvalId === approvalId)?.role ?? 'finance',
      tokenHashes: [...(existing?.tokenHashes ?? []), hashApprovalToken(token, process.env.LINK_SIGNING_KEY ?? '')],
      taskToken: `approval-task-token-${approvalId}`,
      emailedAt: REQUESTED_AT,
      remindedAt: null,
      expiresAt: EXPIRES_AT,
    });
    return token;
  }

  /** Changes the stored deal as another writer would (a webhook, the expiry timer): bumps its version. */
  changeDeal(change: (deal: Deal) => void): void {
    const stored = structuredClone(this.stored);
    change(stored.deal);
    this.deals.set(dealKey(stored.deal), { ...stored, version: stored.version + 1 });
  }

  async getDeal(pipelineId: string, dealId: string): Promise<StoredDeal | null> {
    await tick();
    const stored = this.deals.get(`${pipelineId}#${dealId}`);
    return stored ? structuredClone(stored) : null;
  }

  async getApproval(approvalId: string): Promise<ApprovalRecord | null> {
    await tick();
    return structuredClone(this.approvals.get(approvalId) ?? null);
  }

  async commit(input: CommitInput): Promise<StoredDeal | null> {
    await tick();
    this.beforeCommit?.();
    const { before, decision } = input;
    if (!decision.deal && input.alongside) {
      this.writeBacks.apply(input.alongside);
      return null;
    }
    if (!decision.deal || !before) throw new Error('the approval use case only updates existing deals');
    if (this.deals.get(dealKey(decision.deal))?.version !== before.version) {
      this.conflicts++;
      throw new ConcurrentUpdateError('the deal changed while the decision was taken');
    }
    const stored = storedAfter(input);
    if (!stored) throw new Error('a commit without a deal');
    this.deals.set(dealKey(decision.deal), structuredClone(stored));
    this.writeBacks.apply(input.alongside ?? []);
    this.commits.push(structuredClone(input));
    this.changes.push(structuredClone({ before, after: stored }));
    return stored;
  }

  async updateWorkflow(before: StoredDeal, workflow: Partial<WorkflowState>, deal?: Deal): Promise<StoredDeal> {
    await tick();
    if (this.deals.get(dealKey(before.deal))?.version !== before.version) {
      throw new ConcurrentUpdateError('the deal changed meanwhile');
    }
    const next = { ...before, deal: deal ?? before.deal, version: before.version + 1 };
    next.workflow = { ...before.workflow, ...workflow };
    this.deals.set(dealKey(next.deal), structuredClone(next));
    this.changes.push(structuredClone({ before, after: next }));
    return next;
  }

  async updateWorkflowAt(
    pipelineId: string,
    dealId: string,
    version: number,
    workflow: Partial<WorkflowState>,
  ): Promise<boolean> {
    const before = this.deals.get(`${pipelineId}#${dealId}`);
    if (before?.version !== version) return false;
    await this.updateWorkflow(structuredClone(before), workflow);
    return true;
  }

  async claimEffectRun(
    _pipeline: string,
    dealId: string,
    version: number,
    nowMs: number,
    durationMs: number,
  ): Promise<EffectRunClaim | null> {
    const key = `${dealId}@${version}`;
    const held = this.effectLeases.get(key);
    if (held && held.until > nowMs) return null;
    const lease: Lease = {
      key: { pk: key, sk: 'OUTBOX' },
      id: `lease-${++this.leaseCount}`,
      until: nowMs + durationMs,
    };
    this.effectLeases.set(key, lease);
    const rerun = this.claimedRuns.has(key);
    this.claimedRuns.add(key);
    return { lease, done: new Set(this.effectsDone.get(key)), rerun };
  }

  async releaseEffectRun(lease: Lease, lastDone: { effect: string; now: string } | null = null): Promise<void> {
    if (lastDone) await this.markEffectDone(lease, lastDone.effect);
    if (this.effectLeases.get(lease.key.pk)?.id === lease.id) this.effectLeases.delete(lease.key.pk);
  }

  async markEffectDone(lease: Lease, effect: string): Promise<void> {
    const key = lease.key.pk;
    if (this.effectLeases.get(key)?.id !== lease.id) throw new LeaseLostError(lease.key);
    this.effectsDone.set(key, new Set([...(this.effectsDone.get(key) ?? []), effect]));
  }

  async claimDailyNotice(_pipeline: string, dealId: string, notice: string, now: string): Promise<boolean> {
    const key = `${dealId}#${now.slice(0, 10)}#${notice}`;
    if (this.notices.has(key)) return false;
    this.notices.add(key);
    return true;
  }

  async releaseDailyNotice(_pipeline: string, dealId: string, notice: string, now: string): Promise<void> {
    this.notices.delete(`${dealId}#${now.slice(0, 10)}#${notice}`);
  }

  async attachTaskToken(base: ApprovalBase, taskToken: string): Promise<void> {
    this.approvals.set(base.approvalId, { ...this.approvalRecord(base), taskToken });
  }

  async addReviewToken(base: ApprovalBase, tokenHash: string): Promise<void> {
    const record = this.approvalRecord(base);
    this.approvals.set(base.approvalId, { ...record, tokenHashes: [...record.tokenHashes, tokenHash] });
  }

  async markApprovalSent(base: ApprovalBase, sent: 'emailedAt' | 'remindedAt', at: string): Promise<void> {
    this.approvals.set(base.approvalId, { ...this.approvalRecord(base), [sent]: at });
  }

  private approvalRecord(base: ApprovalBase): ApprovalRecord {
    return (
      this.approvals.get(base.approvalId) ?? {
        ...base,
        tokenHashes: [],
        taskToken: null,
        emailedAt: null,
        remindedAt: null,
      }
    );
  }
}

/**
 * The write-back queues in memory, as `WriteBackQueue` keeps them in the table: items per deal in decision order,
 * a lease per deal fencing every change, completion applied with the commit that records the outcome.
 */
export class InMemoryWriteBacks {
  readonly items = new Map<string, WriteBack>();
  private readonly leases = new Map<string, Lease>();
  private leaseCount = 0;

  async enqueue(item: WriteBack): Promise<boolean> {
    const key = itemKey(item);
    if (this.items.has(key)) return false;
    this.items.set(key, structuredClone(item));
    return true;
  }

  async dueDeals(now: string, limit: number): Promise<{ pipeline: string; dealId: string }[]> {
    const due = [...this.items.values()].filter((item) => !item.completedAt && item.dueAt <= now);
    const deals = new Map(due.map((item) => [`${item.pipeline}#${item.dealId}`, item]));
    return [...deals.values()].slice(0, limit).map(({ pipeline, dealId }) => ({ pipeline, dealId }));
  }

  async pending(pipeline: string, dealId: string): Promise<WriteBack[]> {
    return [...this.items.values()]
      .filter((item) => item.pipeline === pipeline && item.dealId === dealId && !item.completedAt)
      .sort((a, b) => a.version - b.version)
      .map((item) => structuredClone(item));
  }

  async claim(pipeline: string, dealId: string, nowMs: number, durationMs: number): Promise<Lease | null> {
    const key = `${pipeline}#${dealId}`;
    const held = this.leases.get(key);
    if (held && held.until > nowMs) return null;
    const lease: Lease = { key: { pk: key, sk: 'LEASE' }, id: `lease-${++this.leaseCount}`, until: nowMs + durationMs };
    this.leases.set(key, lease);
    return lease;
  }

  async release(lease: Lease): Promise<void> {
    if (this.leases.get(lease.key.pk)?.id === lease.id) this.leases.delete(lease.key.pk);
  }

  async update(lease: Lease, item: WriteBack, progress: WriteBackProgress): Promise<WriteBack> {
    this.check(lease);
    const next = { ...item, ...progress };
    this.items.set(itemKey(next), structuredClone(next));
    return next;
  }

  completion(lease: Lease, item: WriteBack, now: string): TransactPart[] {
    return [{ completeWriteBack: { lease, key: itemKey(item), now } } as unknown as TransactPart];
  }

  /** Applies the completions a commit carried. */
  apply(parts: TransactPart[]): void {
    for (const part of parts) {
      const { completeWriteBack } = part as unknown as {
        completeWriteBack?: { lease: Lease; key: string; now: string };
      };
      if (!completeWriteBack) continue;
      this.check(completeWriteBack.lease);
      const item = this.items.get(completeWriteBack.key);
      if (item) this.items.set(completeWriteBack.key, { ...item, completedAt: completeWriteBack.now });
    }
  }

  private check(lease: Lease): void {
    if (this.leases.get(lease.key.pk)?.id !== lease.id) throw new LeaseLostError(lease.key);
  }
}

const itemKey = (item: WriteBack) => `${item.pipeline}#${item.dealId}#${item.version}`;

/**
 * The outbox, fed with every change committed since the last call (as the stream would), `times` times over — a
 * retried batch. Returns how many changes it handled.
 */
export async function drainOutbox(deals: InMemoryDeals, services: EffectServices, times = 1): Promise<number> {
  const changes = deals.changes.splice(0);
  for (let round = 0; round < times; round++) {
    for (const change of changes) await applySideEffects(change, services);
  }
  return changes.length;
}

function dealKey(deal: Deal): string {
  return `${deal.pipeline}#${deal.dealId}`;
}

/** Services around the in-memory deals; SES and Step Functions go through clients a test mocks. */
export function approvalServices(deals: InMemoryDeals, now: () => Date): EffectServices {
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const pipelines = {
    version: async (pipelineId: string, version: string) => {
      if (pipelineId !== pipeline.config.pipeline || version !== pipeline.version) {
        throw new Error(`no pipeline ${pipelineId}@${version}`);
      }
      return pipeline;
    },
    getDeal: (pipelineId: string, dealId: string) => (deals as unknown as DealRepository).getDeal(pipelineId, dealId),
  };
  return {
    deals: deals as unknown as DealRepository,
    pipelines: pipelines as unknown as PipelineCatalog,
    workflow: new WorkflowClient(new SFNClient({ region: 'us-east-1', credentials }), {
      default: STATE_MACHINE_ARN,
    }),
    mailer: new Mailer(new SESv2Client({ region: 'us-east-1', credentials }), 'stageflow@example.com'),
    // A first run of each decision never asks the mail log.
    mailLog: { accepted: async () => false },
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
    // Projections of the in-memory deals are not what these tests are about: an insights store that records nothing.
    insights: {
      getMarker: async () => null,
      add: async () => true,
      totals: async () => ({}),
      sum: async () => ({}),
    } as unknown as InsightsStore,
    telemetry: silentTelemetry(),
    publicBaseUrl: PUBLIC_BASE_URL,
    clock: now,
  };
}
