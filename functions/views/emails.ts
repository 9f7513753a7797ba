import { askLabel } from '../core/approver-routing.ts';
import type { Approval, Deal } from '../core/deal.ts';
import type { Reason } from '../core/decide/reasons.ts';
import type { Criterion, PipelineConfig, StageConfig } from '../core/pipeline-config.ts';
import { type EmailMessage, render } from './email-layout.ts';
import {
  type Approver,
  approvalFacts,
  criterionLine,
  dealAmount,
  dealTitle,
  formatTime,
  missingFieldLines,
  ownerName,
  personLabel,
  shortName,
} from './wording.ts';

/**
 * The emails Stageflow sends, as pure templates: each returns a plain-text body and an HTML body with the same
 * content. Every value from a deal or a config is escaped in the HTML; no email carries anything but the one review
 * link it is given (never a Step Functions task token).
 */

/** An owner notification was asked for a deal without an owner address; callers check `deal.owner?.email` first. */
export class NoOwnerEmailError extends Error {
  constructor(deal: Deal) {
    super(`deal ${deal.pipeline}/${deal.dealId} has no owner email address to notify`);
    this.name = 'NoOwnerEmailError';
  }
}

/** The pipeline's approver roles by key, as far as a message needs them: their names. */
type ApproverRoles = Record<string, { name: string }>;

/** An approver role by the name the pipeline gives it ("Sales manager"); the key only for a role it no longer has. */
function roleNameOf(approvers: ApproverRoles, role: string): string {
  return Object.hasOwn(approvers, role) ? (approvers[role]?.name ?? role) : role;
}

/** Approval request to an approver: one review link, the deal, what is validated and until when. */
export function approvalRequestEmail(input: {
  deal: Deal;
  stage: StageConfig;
  approval: Approval;
  approver: Approver;
  link: string;
  reminder: boolean;
  /** What the person asked must know beyond the deal: on whose behalf, how their group decides. */
  routing?: { onBehalfOf: string | null; group: string | null; cc: string[] };
}): EmailMessage {
  const { deal, stage, approval, approver, link, reminder, routing } = input;
  const ask = `Approval needed: ${shortName(deal)} — ${approver.name}`;
  const behalf = routing?.onBehalfOf ? ` on behalf of ${routing.onBehalfOf}` : '';
  return render({
    to: approver.email,
    ...(routing ? { cc: routing.cc } : {}),
    subject: reminder ? `Reminder: ${ask}` : ask,
    heading: reminder ? `Reminder: your approval is still needed` : `Your approval is needed`,
    paragraphs: [
      `Hello ${approver.name},`,
      `${ownerName(deal) ?? 'The deal owner'} asks for your approval${behalf} on the deal ${dealTitle(deal)} in ${stage.name}.`,
    ],
    facts: [
      ...approvalFacts(input),
      ['On behalf of', routing?.onBehalfOf ?? null],
      ['Group decision', routing?.group ?? null],
    ],
    lists: [{ title: `Goals of ${stage.name}`, items: stage.goals }],
    action: { label: 'Review and decide', url: link },
    footer:
      `The link opens a page where you approve or reject (a rejection needs a comment for the owner). ` +
      `The request can be decided once, until ${formatTime(approval.expiresAt)}. Do not forward this email.`,
  });
}

/** Tells the owner which approvals a deal now waits for, and from whom. */
export function ownerApprovalsRequestedEmail(input: {
  deal: Deal;
  stage: StageConfig;
  approvals: Approval[];
  approvers: Record<string, { name: string; email?: string }>;
}): EmailMessage {
  const { deal, stage, approvals, approvers } = input;
  const roleName = (role: string) => roleNameOf(approvers, role);
  return render({
    to: ownerEmail(deal),
    subject: `Approval requested: ${shortName(deal)} — ${approvals.map((a) => roleName(a.role)).join(', ')}`,
    heading: `Approval requested for ${dealTitle(deal)}`,
    paragraphs: [
      `The deal is in ${stage.name}. These approvals were requested; you will get an email when each is decided.`,
    ],
    facts: [['Deal', dealTitle(deal)]],
    lists: [
      {
        title: 'Requested approvals',
        items: approvals.map((approval) => {
          const asked = approval.asks?.filter((ask) => ask.status === 'pending').map(askLabel) ?? [];
          const role = approvers[approval.role] ?? { name: approval.role };
          const who =
            asked.length === 0
              ? personLabel(role)
              : approval.decide === undefined
                ? asked.join(', ')
                : `${role.name} (${asked.join(', ')})`;
          return `${who}: ${approval.reason} (expires ${formatTime(approval.expiresAt)})`;
        }),
      },
    ],
  });
}

/** The stage guidance for the owner on entering a stage: what it means, its goals and actions, what is still open. */
export function stageEntryEmail(input: {
  deal: Deal;
  stage: StageConfig;
  openCriteria: Criterion[];
  /** A new version of the pipeline's config moved the deal (its stage was retired), not a move in the CRM. */
  movedByConfig?: boolean;
}): EmailMessage {
  const { deal, stage, openCriteria, movedByConfig = false } = input;
  const allMet = stage.exitCriteria.length > 0 && openCriteria.length === 0;
  const why = movedByConfig
    ? [
        `A change to the pipeline's stage config moved the deal to ${stage.name}: its stage is no longer part of the ` +
          'pipeline. Nobody moved it in the CRM.',
      ]
    : [];
  return render({
    to: ownerEmail(deal),
    subject: `${shortName(deal)} is now in ${stage.name}${movedByConfig ? ' (the pipeline config changed)' : ''}`,
    heading: `${dealTitle(deal)} entered ${stage.name}`,
    paragraphs: [
      ...why,
      stage.definition,
      ...(allMet ? [`Every exit criterion of ${stage.name} is already met.`] : []),
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Amount', dealAmount(deal)],
    ],
    lists: [
      { title: 'Goals', items: stage.goals },
      { title: 'Actions', items: stage.actions },
      { title: `Still open before the deal can leave ${stage.name}`, items: openCriteria.map(criterionLine) },
    ],
  });
}

/** Tells the owner how an approver decided, with the approver's comment. */
export function approvalDecidedEmail(input: {
  deal: Deal;
  approval: Approval;
  approvers: ApproverRoles;
  /** The stage the deal moved to because this was the last approval its move waited for. */
  movedTo?: StageConfig;
}): EmailMessage {
  const { deal, approval, movedTo } = input;
  const approved = approval.status === 'approved';
  const verb = approved ? 'approved' : 'rejected';
  const role = roleNameOf(input.approvers, approval.role);
  const by = approval.decidedBy ?? role;
  const next = movedTo
    ? `Every approval the move waited for is granted: the deal moved to ${movedTo.name}.`
    : 'The deal moves on by itself once every approval it waits for is granted and its exit criteria still hold.';
  return render({
    to: ownerEmail(deal),
    subject: `${approved ? 'Approved' : 'Rejected'}: ${shortName(deal)} — ${role}`,
    heading: `${by} ${verb} ${dealTitle(deal)}`,
    paragraphs: [
      approved
        ? next
        : 'The move that waited for this approval is cancelled. Address the comment, then move the deal again in ' +
          'your CRM to request a new approval.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approval', approval.reason],
      ['Decision', verb],
      ['By', by],
      ['At', approval.decidedAt ? formatTime(approval.decidedAt) : null],
      ['Comment', approval.comment ?? '(none)'],
    ],
  });
}

/** Tells the owner an approval expired without a decision. */
export function approvalExpiredEmail(input: {
  deal: Deal;
  approval: Approval;
  approvers: ApproverRoles;
}): EmailMessage {
  const { deal, approval } = input;
  const role = roleNameOf(input.approvers, approval.role);
  return render({
    to: ownerEmail(deal),
    subject: `Approval expired: ${shortName(deal)} — ${role}`,
    heading: `An approval for ${dealTitle(deal)} expired`,
    paragraphs: [
      `Nobody decided the request "${approval.reason}" before it expired on ${formatTime(approval.expiresAt)}. ` +
        'A move that waited for it is cancelled; move the deal again in your CRM to request a new approval.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approver', role],
      ['Requested', formatTime(approval.requestedAt)],
      ['Expired', formatTime(approval.expiresAt)],
    ],
  });
}

/** Tells the owner the deal is closed, won or lost. */
export function dealClosedEmail(input: { deal: Deal; stage: StageConfig }): EmailMessage {
  const { deal, stage } = input;
  const lostReason = deal.fields.lostReason;
  return render({
    to: ownerEmail(deal),
    subject: `${shortName(deal)} is ${stage.name}`,
    heading: `${dealTitle(deal)} is ${stage.name}`,
    paragraphs: [stage.definition],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Amount', dealAmount(deal)],
      ['Lost reason', stage.closed === 'lost' && typeof lostReason === 'string' ? lostReason : null],
    ],
    lists: [
      { title: 'Goals', items: stage.goals },
      { title: 'Actions', items: stage.actions },
    ],
  });
}

function ownerEmail(deal: Deal): string {
  if (!deal.owner?.email) throw new NoOwnerEmailError(deal);
  return deal.owner.email;
}

/**
 * Tells the owner a move was refused: the reasons, the missing fields by their descriptions, and the guidance of the
 * stage the deal is still in.
 */
export function moveRefusedEmail(input: {
  deal: Deal;
  target: string;
  reasons: Reason[];
  stage: StageConfig;
  config: PipelineConfig;
}): EmailMessage {
  const { deal, target, reasons, stage, config } = input;
  const targetName = config.stages.find((s) => s.key === target)?.name ?? target;
  return render({
    to: ownerEmail(deal),
    subject: `Move refused: ${shortName(deal)} stays in ${stage.name}`,
    heading: `${dealTitle(deal)} was not moved to ${targetName}`,
    paragraphs: [
      `The move to ${targetName} was refused, so the deal stays in ${stage.name}. Fix what is listed below, then move ` +
        'the deal again in your CRM.',
      stage.definition,
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Stage', stage.name],
      ['Refused move to', targetName],
    ],
    lists: [
      { title: 'Why', items: reasons.map((reason) => reason.message) },
      { title: 'Missing fields', items: missingFieldLines(reasons, config) },
      { title: `Goals of ${stage.name}`, items: stage.goals },
      { title: `Actions in ${stage.name}`, items: stage.actions },
    ],
  });
}

/** Tells an approver a request they were sent no longer needs a decision (a new config version dropped it). */
export function approvalCancelledEmail(input: { deal: Deal; approval: Approval; approver: Approver }): EmailMessage {
  const { deal, approval, approver } = input;
  return render({
    to: approver.email,
    subject: `No longer needed: ${shortName(deal)} — ${approver.name}`,
    heading: `The approval request for ${dealTitle(deal)} was cancelled`,
    paragraphs: [
      `The request "${approval.reason}" no longer needs your decision: the pipeline's rules changed and the deal's ` +
        'stage does not ask for it any more. The link you were sent no longer works.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Requested', formatTime(approval.requestedAt)],
    ],
  });
}

/** Tells the owner which pending approvals were cancelled (a new config version dropped them). */
export function ownerApprovalsCancelledEmail(input: {
  deal: Deal;
  approvals: Approval[];
  approvers: ApproverRoles;
}): EmailMessage {
  const { deal, approvals } = input;
  const role = (approval: Approval) => roleNameOf(input.approvers, approval.role);
  return render({
    to: ownerEmail(deal),
    subject: `Approvals cancelled: ${shortName(deal)} — ${approvals.map(role).join(', ')}`,
    heading: `Pending approvals for ${dealTitle(deal)} were cancelled`,
    paragraphs: [
      "The pipeline's rules changed and the deal's stage no longer asks for these approvals; the deal does not wait " +
        'for them any more.',
    ],
    facts: [['Deal', dealTitle(deal)]],
    lists: [{ title: 'Cancelled', items: approvals.map((a) => `${role(a)}: ${a.reason}`) }],
  });
}
