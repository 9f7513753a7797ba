import { type Approval, type HistoryEntry, MAX_ID_LENGTH } from '../core/deal.ts';
import { BadRequestError, NotFoundError } from '../core/errors.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import type { EffectServices } from './effect-services.ts';
import type { Services } from './services.ts';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 100;

/**
 * The public shape of an approval; tokens and task tokens never appear. `asked` lists every person asked, each with
 * their own request's status (`withdrawn`: their link no longer decides) and whom a delegate stands in for;
 * `onBehalfOf` names the person the decider stood in for.
 */
function approvalView(approval: Approval) {
  return {
    approvalId: approval.approvalId,
    role: approval.role,
    stage: approval.stage,
    status: approval.status,
    requestedAt: approval.requestedAt,
    expiresAt: approval.expiresAt,
    decidedBy: approval.decidedBy,
    decidedAt: approval.decidedAt,
    comment: approval.comment,
    conditionValues: approval.conditionValues ?? null,
    decide: approval.decide ?? null,
    onBehalfOf: approval.onBehalfOf ?? null,
    asked: (approval.asks ?? []).map((ask) => ({
      name: ask.name,
      email: ask.email,
      onBehalfOf: ask.onBehalfOf,
      status: ask.status,
      askedAt: ask.askedAt,
      decidedAt: ask.decidedAt,
    })),
  };
}

function historyView(entry: HistoryEntry) {
  return {
    at: entry.at,
    type: entry.type,
    from: entry.from,
    to: entry.to,
    outcome: entry.outcome,
    eventId: entry.eventId,
    source: entry.source,
    reasons: entry.reasons,
    ...(entry.approval ? { approval: entry.approval } : {}),
    ...(entry.origin ? { origin: entry.origin } : {}),
    ...(entry.crm ? { crm: entry.crm } : {}),
    ...(entry.status !== undefined ? { status: entry.status } : {}),
    ...(entry.stage ? { stage: entry.stage } : {}),
  };
}

export function dealView({ deal }: StoredDeal) {
  return {
    dealId: deal.dealId,
    pipeline: deal.pipeline,
    dealName: deal.dealName,
    owner: deal.owner,
    stage: deal.stage,
    status: deal.status,
    configVersion: deal.configVersion,
    fields: deal.fields,
    approvals: deal.approvals.map(approvalView),
    pendingMove: deal.pendingMove ? { to: deal.pendingMove.to, requestedAt: deal.pendingMove.requestedAt } : null,
    createdAt: deal.createdAt,
    updatedAt: deal.updatedAt,
  };
}

/** `GET /deals/{dealId}?pipeline=…`: the deal with its approvals and full history. */
export async function getDeal(pipeline: string, dealId: string, services: Services) {
  if (dealId.length > MAX_ID_LENGTH) {
    throw new BadRequestError(
      'INVALID_DEAL_ID',
      `the deal id is ${dealId.length} characters long; deal ids have at most ${MAX_ID_LENGTH} — check the URL`,
      [{ path: 'dealId', message: `longer than ${MAX_ID_LENGTH} characters` }],
    );
  }
  await services.pipelines.current(pipeline);
  const found = await services.deals.getDealWithHistory(pipeline, dealId);
  if (!found) throw new NotFoundError(`no deal '${dealId}' in pipeline '${pipeline}'`);
  return { ...dealView(found.stored), history: found.history.map(historyView) };
}

interface ListCursor {
  stage: number;
  key?: string;
}

/**
 * `GET /deals?pipeline=…&stage=…`: one page of deals through the stage index. Without `stage`, the pipeline's stages
 * are walked in order, the cursor remembering where the last page stopped; an open stage the read model's totals
 * count no deal in is passed over unread, so the walk's queries follow the deals, not the number of stages.
 */
export async function listDeals(
  query: { pipeline: string; stage?: string; limit?: string; nextToken?: string },
  services: Pick<Services, 'deals' | 'pipelines'> & Pick<EffectServices, 'insights'>,
) {
  const { config } = await services.pipelines.current(query.pipeline);
  const stages = query.stage ? [query.stage] : config.stages.map((s) => s.key);
  if (query.stage && !config.stages.some((s) => s.key === query.stage)) {
    throw new BadRequestError(
      'UNKNOWN_STAGE',
      `stage '${query.stage}' is not a stage of pipeline '${query.pipeline}' — use one of: ${config.stages.map((s) => s.key).join(', ')}`,
      [{ path: 'stage', message: 'unknown stage' }],
    );
  }
  const limit = parseLimit(query.limit);
  const cursor = query.nextToken ? decodeCursor(query.nextToken) : { stage: 0 };
  const totals = query.stage ? {} : await services.insights.totals(query.pipeline);
  const uncounted = new Set(
    config.stages.filter((s) => !s.closed && !query.stage && (totals[`count#${s.key}`] ?? 0) <= 0).map((s) => s.key),
  );
  const deals: ReturnType<typeof dealView>[] = [];
  let stageIndex = cursor.stage;
  let key = cursor.key;
  while (stageIndex < stages.length && deals.length < limit) {
    if (key === undefined && uncounted.has(stages[stageIndex] as string)) {
      stageIndex++;
      continue;
    }
    const page = await services.deals.listDeals(query.pipeline, stages[stageIndex] as string, {
      limit: limit - deals.length,
      nextToken: key,
    });
    deals.push(...page.deals.map(dealView));
    if (page.nextToken) {
      key = page.nextToken;
    } else {
      stageIndex++;
      key = undefined;
    }
  }
  const nextToken = stageIndex < stages.length ? encodeCursor({ stage: stageIndex, key }) : null;
  return { deals, nextToken };
}

/** `GET /pipelines/{pipeline}/stages`: the stage guidance of the pipeline's current version. */
export async function stageGuidance(pipeline: string, services: Services) {
  if (!services.pipelines.isDeployed(pipeline)) {
    throw new NotFoundError(`no pipeline '${pipeline}' — use one of: ${services.pipelines.pipelineIds().join(', ')}`);
  }
  const { config, version } = await services.pipelines.current(pipeline);
  return {
    pipeline: config.pipeline,
    name: config.name,
    configVersion: version,
    stages: config.stages.map((stage) => ({
      key: stage.key,
      name: stage.name,
      closed: stage.closed ?? null,
      definition: stage.definition,
      goals: stage.goals,
      actions: stage.actions,
      exitCriteria: stage.exitCriteria,
      entryCriteria: stage.entryCriteria,
      entryApprovals: stage.entryApprovals,
      exitApprovals: stage.exitApprovals,
    })),
  };
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new BadRequestError('INVALID_LIMIT', `limit must be a whole number from 1 to ${MAX_PAGE}`, [
      { path: 'limit', message: `got '${raw}'` },
    ]);
  }
  return limit;
}

function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(token: string): ListCursor {
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ListCursor;
    if (Number.isInteger(cursor.stage) && cursor.stage >= 0) return cursor;
  } catch {
    // refused below
  }
  throw new BadRequestError(
    'INVALID_NEXT_TOKEN',
    "nextToken is not one this API returned — pass a previous answer's nextToken unchanged",
    [{ path: 'nextToken', message: 'unreadable token' }],
  );
}
