import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import type { ApprovalRecord } from '../adapters/deals/approvals.ts';
import { loadSecrets } from '../adapters/secrets.ts';
import { approvalTokenAsk } from '../core/approval-token.ts';
import { personName } from '../core/approver-routing.ts';
import type { ApprovalAsk, Decision } from '../core/deal.ts';
import { decideApproval as decideOnDeal } from '../core/decide/entry-points.ts';
import { UnsupportedMediaTypeError } from '../core/errors.ts';
import type { VersionedPipeline } from '../core/pipeline-config.ts';
import { requireStage, stageOf } from '../core/stages.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import { type HttpResult, rawBody } from '../http/responses.ts';
import {
  type ApprovalView,
  alreadyDecidedPage,
  confirmationPage,
  expiredPage,
  linkWithdrawnPage,
  MAX_COMMENT_LENGTH,
  noLongerNeededPage,
  notFoundPage,
  reviewPage,
} from '../views/approval-pages.ts';
import { htmlResponse } from '../views/page.ts';
import { personLabel } from '../views/wording.ts';
import { retryOnConflict } from './retry-on-conflict.ts';
import { decisionContext, type Services } from './services.ts';

/** The review form as posted: any field may be missing or hold anything. */
export interface ApprovalForm {
  token?: string;
  decision?: string;
  comment?: string;
}

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/**
 * The review form from a `POST`: a browser sends it URL-encoded (API Gateway hands such bodies over base64-encoded).
 * @throws UnsupportedMediaTypeError for any other body, which no review page sends.
 */
export function readApprovalForm(request: APIGatewayProxyEventV2): ApprovalForm {
  const header = Object.entries(request.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  const mediaType = header?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== FORM_CONTENT_TYPE) {
    throw new UnsupportedMediaTypeError(
      `content type '${mediaType || '(none)'}' is not accepted here — submit the form on the review page (${FORM_CONTENT_TYPE})`,
    );
  }
  const fields = new URLSearchParams(rawBody(request));
  return {
    token: fields.get('token') ?? undefined,
    decision: fields.get('decision') ?? undefined,
    comment: fields.get('comment') ?? undefined,
  };
}

/** Bounds that keep a forged request from reaching the table with an oversized key. */
const LinkSchema = z.object({
  approvalId: z.string().check(z.minLength(1), z.maxLength(128), z.describe('the approval id from the link path')),
  token: z.string().check(z.minLength(1), z.maxLength(256), z.describe('the review-link token from the email')),
});

const DecisionSchema = z
  .object({
    decision: z
      .enum(['approve', 'reject'], { error: 'Choose Approve or Reject, then send the form again.' })
      .check(z.describe('the button the approver pressed')),
    comment: z
      .pipe(
        z.optional(
          z
            .string()
            .check(
              z.trim(),
              z.maxLength(MAX_COMMENT_LENGTH, `Shorten the comment to ${MAX_COMMENT_LENGTH} characters or fewer.`),
            ),
        ),
        z.transform((comment) => comment || null),
      )
      .check(z.describe('the comment for the deal owner; required to reject')),
  })
  .check(
    z.refine((form) => form.decision === 'approve' || form.comment !== null, {
      error: 'A rejection needs a comment: write what the owner should fix, then press Reject again.',
      path: ['comment'],
    }),
  );

/** One approval request as read for a page: the deal it belongs to, under the config version the deal runs on. */
interface LoadedApproval extends ApprovalView {
  stored: StoredDeal;
  pipeline: VersionedPipeline;
  /** The person's own request the link was emailed for; null for a link of an approval stored before them. */
  ask: ApprovalAsk | null;
  /** Whether the deal's config still has the approval's role (a new version may have removed it). */
  roleKept: boolean;
}

/** A review link whose token matched: the approval and the person's request the link is bound to. */
interface VerifiedLink {
  record: ApprovalRecord;
  askId: string;
}

/**
 * `GET`/`HEAD /approvals/{approvalId}?token=…`: the review page. Reads only. An unknown id or a wrong token answers
 * 404 without any detail; a decided request 409 (by whom, when); an expired one 410.
 */
export async function showApproval(
  approvalId: string,
  token: string | undefined,
  services: Services,
): Promise<HttpResult> {
  const link = LinkSchema.safeParse({ approvalId, token });
  const verified = link.success ? await verifiedLink(link.data, services) : null;
  const loaded = verified && (await loadApproval(verified, services));
  if (!link.success || !loaded) return htmlResponse(404, notFoundPage());
  return (
    refusal(loaded, services.clock().toISOString()) ??
    htmlResponse(200, reviewPage(reviewView(loaded), { token: link.data.token }))
  );
}

/**
 * `POST /approvals/{approvalId}` (form fields `token`, `decision`, `comment`): records the approver's decision once.
 * The deal is written under its optimistic lock, so of two concurrent submissions exactly one decides and the other
 * re-reads and answers 409. The owner's email and the workflow's release follow from the stored decision (the outbox).
 */
export async function decideApproval(approvalId: string, form: ApprovalForm, services: Services): Promise<HttpResult> {
  const link = LinkSchema.safeParse({ approvalId, token: form.token });
  const verified = link.success ? await verifiedLink(link.data, services) : null;
  if (!link.success || !verified) return htmlResponse(404, notFoundPage());
  const input = DecisionSchema.safeParse(form);
  return retryOnConflict(async () => {
    const loaded = await loadApproval(verified, services);
    if (!loaded) return htmlResponse(404, notFoundPage());
    const ctx = decisionContext(services, loaded.pipeline.config);
    const refused = refusal(loaded, ctx.now);
    if (refused) return refused;
    if (!input.success) {
      const problem = input.error.issues.map((issue) => issue.message).join(' ');
      return htmlResponse(
        400,
        reviewPage(reviewView(loaded), { token: link.data.token, comment: form.comment, problem }),
      );
    }
    const decision = decideOnDeal(
      loaded.pipeline,
      loaded.deal,
      {
        approvalId,
        askId: loaded.ask?.askId ?? null,
        approve: input.data.decision === 'approve',
        decidedBy: personLabel(loaded.approver),
        comment: input.data.comment,
      },
      ctx,
    );
    const after = await services.deals.commit({
      before: loaded.stored,
      decision,
      lastDecision: {
        kind: 'approval',
        outcome: decision.outcome,
        reasons: decision.reasons,
        eventId: null,
        source: 'approval',
        at: ctx.now,
        approvalId,
      },
    });
    if (!after) throw new Error(`deciding approval ${approvalId} left no deal to store`);
    return confirm(loaded, after, decision, services);
  });
}

/**
 * After the decision is stored the approver is shown the outcome. Telling the owner and releasing the workflow are
 * the outbox's, from the committed deal item.
 */
function confirm(loaded: LoadedApproval, after: StoredDeal, decision: Decision, services: Services): HttpResult {
  const { approvalId } = loaded.approval;
  const decided = after.deal.approvals.find((approval) => approval.approvalId === approvalId);
  if (!decided) throw new Error(`approval ${approvalId} is missing from deal ${after.deal.dealId} after its decision`);
  if (decided.status !== 'pending') services.telemetry.approvalEnded(after.deal, decided);
  const ask = decided.asks?.find((a) => a.askId === loaded.ask?.askId) ?? null;
  const movedTo = decision.moved ? requireStage(loaded.pipeline.config, after.deal.stage).name : null;
  return htmlResponse(200, confirmationPage({ ...loaded, deal: after.deal, approval: decided, ask, movedTo }));
}

/** The approval record and the person's request, if the token is one of those emailed (compared in constant time). */
async function verifiedLink(
  link: { approvalId: string; token: string },
  services: Services,
): Promise<VerifiedLink | null> {
  const record = await services.deals.getApproval(link.approvalId);
  if (!record) return null;
  const { LINK_SIGNING_KEY } = await loadSecrets();
  const askId = approvalTokenAsk(link.token, record.tokenHashes, LINK_SIGNING_KEY);
  return askId === null ? null : { record, askId };
}

async function loadApproval({ record, askId }: VerifiedLink, services: Services): Promise<LoadedApproval | null> {
  const stored = await services.pipelines.getDeal(record.pipeline, record.dealId);
  const approval = stored?.deal.approvals.find((a) => a.approvalId === record.approvalId);
  if (!stored || !approval) return null;
  const pipeline = await services.pipelines.version(stored.deal.pipeline, stored.deal.configVersion);
  const role = pipeline.config.approvers[approval.role];
  const ask = approval.asks?.find((a) => a.askId === askId) ?? null;
  const approver = {
    name: ask?.name ?? role?.name ?? approval.role,
    email: ask?.email ?? role?.email ?? '',
  };
  const stage = requireStage(pipeline.config, approval.stage);
  return { stored, pipeline, deal: stored.deal, approval, stage, approver, ask, roleKept: role !== undefined };
}

/**
 * Why the request can no longer be decided by this link, as the page to answer with; null while it is open. A
 * request that ran out of time, that a new config version dropped, or whose person is no longer asked (their link
 * was withdrawn) is gone (410); one decided already, by this person or another, answers 409 naming who decided.
 */
function refusal(loaded: LoadedApproval, now: string): HttpResult | null {
  const { approval, ask } = loaded;
  const expired =
    approval.status === 'expired' ||
    (approval.status === 'pending' && Date.parse(now) >= Date.parse(approval.expiresAt));
  if (expired) return htmlResponse(410, expiredPage(loaded));
  if (approval.status === 'cancelled' && !loaded.roleKept) return htmlResponse(410, noLongerNeededPage(loaded));
  if (approval.status !== 'pending') return htmlResponse(409, alreadyDecidedPage(loaded));
  if (ask?.status === 'withdrawn') {
    const askedNow = (approval.asks ?? []).filter((a) => a.status === 'pending').map(personName);
    return htmlResponse(410, linkWithdrawnPage({ ...loaded, askedNow }));
  }
  if (ask && ask.status !== 'pending') return htmlResponse(409, alreadyDecidedPage({ ...loaded, ask }));
  return null;
}

function reviewView(loaded: LoadedApproval) {
  const target = loaded.deal.pendingMove && stageOf(loaded.pipeline.config, loaded.deal.pendingMove.to);
  return { ...loaded, pendingMoveTo: target ? target.name : null };
}
