import escapeHtml from 'escape-html';
import { describeCriterion } from './criteria.ts';
import type { Approval, Deal, Owner } from './deal.ts';
import type { Reason } from './decide/reasons.ts';
import { amountFormat, utcDateTime } from './formatters.ts';
import type { Criterion, PipelineConfig, StageConfig } from './pipeline-config.ts';

/**
 * The emails Stageflow sends, as pure templates: each returns a plain-text body and an HTML body with the same
 * content. Every value from a deal or a config is escaped in the HTML; no email carries anything but the one review
 * link it is given (never a Step Functions task token).
 */

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Who an approval request goes to: an approver role's name and address from the pipeline config. */
export interface Approver {
  name: string;
  email: string;
}

/** An owner notification was asked for a deal without an owner address; callers check `deal.owner?.email` first. */
export class NoOwnerEmailError extends Error {
  constructor(deal: Deal) {
    super(`deal ${deal.pipeline}/${deal.dealId} has no owner email address to notify`);
    this.name = 'NoOwnerEmailError';
  }
}

/** Where CRMs keep a deal's value: HubSpot `amount`, Salesforce `Amount`, Pipedrive `value`. */
const AMOUNT_FIELDS = ['amount', 'Amount', 'value'] as const;
/** Where CRMs keep its currency: Pipedrive `currency`, HubSpot `deal_currency_code`, Salesforce `CurrencyIsoCode`. */
const CURRENCY_FIELDS = ['currency', 'deal_currency_code', 'CurrencyIsoCode'] as const;

/** An ISO timestamp as people read it, in UTC, e.g. `27 Nov 2026, 10:00 UTC`. */
export function formatTime(iso: string): string {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? iso : `${utcDateTime().format(at)} UTC`;
}

/**
 * The deal's amount for display, if the deal has one: numbers grouped (with the currency when the CRM sent an ISO
 * code), any other non-empty text as it came; null when no amount field is set.
 */
export function dealAmount(deal: Deal): string | null {
  const raw = AMOUNT_FIELDS.map((field) => deal.fields[field]).find(
    (value): value is number | string =>
      (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.trim() !== ''),
  );
  if (raw === undefined) return null;
  const amount = typeof raw === 'number' ? raw : Number(raw.trim());
  if (typeof raw === 'string' && !Number.isFinite(amount)) return raw.trim();
  const currency = CURRENCY_FIELDS.map((field) => deal.fields[field]).find(
    (value): value is string => typeof value === 'string' && /^[A-Z]{3}$/.test(value),
  );
  return amountFormat(currency).format(amount);
}

/** The deal as people name it: `Acme rollout (D-1001)`, or the id alone when the CRM sent no name. */
export function dealTitle(deal: Deal): string {
  return deal.dealName ? `${deal.dealName} (${deal.dealId})` : deal.dealId;
}

/**
 * The deal's values an approval covers, as people read them: `discountPercent = 25`; null when its condition
 * looked at none.
 */
export function approvedValues(approval: Approval): string | null {
  const entries = Object.entries(approval.conditionValues ?? {});
  if (entries.length === 0) return null;
  return entries.map(([field, value]) => `${field} = ${value === null ? 'not set' : JSON.stringify(value)}`).join(', ');
}

/** A person as people name them: `Riley Rep <rep@example.com>`, or whichever part is known. */
export function personLabel(person: Owner | null): string {
  if (person?.name && person.email) return `${person.name} <${person.email}>`;
  return person?.name || person?.email || 'not set';
}

/** Approval request to an approver: one review link, the deal, what is validated and until when. */
export function approvalRequestEmail(input: {
  deal: Deal;
  stage: StageConfig;
  approval: Approval;
  approver: Approver;
  link: string;
  reminder: boolean;
}): EmailMessage {
  const { deal, stage, approval, approver, link, reminder } = input;
  const ask = `Approval needed: ${shortName(deal)} — ${approver.name}`;
  return render({
    to: approver.email,
    subject: reminder ? `Reminder: ${ask}` : ask,
    heading: reminder ? `Reminder: your approval is still needed` : `Your approval is needed`,
    paragraphs: [
      `Hello ${approver.name},`,
      `${ownerName(deal)} asks for your approval on the deal ${dealTitle(deal)} in ${stage.name}.`,
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Owner', personLabel(deal.owner)],
      ['Amount', dealAmount(deal)],
      ['Stage', stage.name],
      ['What you validate', approval.reason],
      ['Values you approve', approvedValues(approval)],
      ['Requested', formatTime(approval.requestedAt)],
      ['Expires', formatTime(approval.expiresAt)],
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
  approvers: Record<string, Approver>;
}): EmailMessage {
  const { deal, stage, approvals, approvers } = input;
  const roleName = (role: string) => approvers[role]?.name ?? role;
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
          const who = personLabel(approvers[approval.role] ?? { name: approval.role });
          return `${who}: ${approval.reason} (expires ${formatTime(approval.expiresAt)})`;
        }),
      },
    ],
  });
}

/** The stage guidance for the owner on entering a stage: what it means, its goals and actions, what is still open. */
export function stageEntryEmail(input: { deal: Deal; stage: StageConfig; openCriteria: Criterion[] }): EmailMessage {
  const { deal, stage, openCriteria } = input;
  const allMet = stage.exitCriteria.length > 0 && openCriteria.length === 0;
  return render({
    to: ownerEmail(deal),
    subject: `${shortName(deal)} is now in ${stage.name}`,
    heading: `${dealTitle(deal)} entered ${stage.name}`,
    paragraphs: [stage.definition, ...(allMet ? [`Every exit criterion of ${stage.name} is already met.`] : [])],
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
export function approvalDecidedEmail(input: { deal: Deal; approval: Approval }): EmailMessage {
  const { deal, approval } = input;
  const approved = approval.status === 'approved';
  const verb = approved ? 'approved' : 'rejected';
  const by = approval.decidedBy ?? approval.role;
  return render({
    to: ownerEmail(deal),
    subject: `${approved ? 'Approved' : 'Rejected'}: ${shortName(deal)} — ${approval.role}`,
    heading: `${by} ${verb} ${dealTitle(deal)}`,
    paragraphs: [
      approved
        ? 'The deal moves on by itself once every approval it waits for is granted and its exit criteria still hold.'
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
export function approvalExpiredEmail(input: { deal: Deal; approval: Approval }): EmailMessage {
  const { deal, approval } = input;
  return render({
    to: ownerEmail(deal),
    subject: `Approval expired: ${shortName(deal)} — ${approval.role}`,
    heading: `An approval for ${dealTitle(deal)} expired`,
    paragraphs: [
      `Nobody decided the request "${approval.reason}" before it expired on ${formatTime(approval.expiresAt)}. ` +
        'A move that waited for it is cancelled; move the deal again in your CRM to request a new approval.',
    ],
    facts: [
      ['Deal', dealTitle(deal)],
      ['Approver role', approval.role],
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

/** One open criterion for the owner: its description, with the exact rule. */
export function criterionLine(criterion: Criterion): string {
  const rule = describeCriterion(criterion);
  return criterion.description ? `${criterion.description} (${rule})` : rule;
}

function shortName(deal: Deal): string {
  return deal.dealName ?? deal.dealId;
}

function ownerName(deal: Deal): string {
  return deal.owner?.name || deal.owner?.email || 'The deal owner';
}

function ownerEmail(deal: Deal): string {
  if (!deal.owner?.email) throw new NoOwnerEmailError(deal);
  return deal.owner.email;
}

/** The content of one email, rendered once as text and once as HTML so both always say the same. */
export interface EmailContent {
  to: string;
  subject: string;
  heading: string;
  paragraphs: string[];
  /** Label and value; a null value (unknown) is left out. */
  facts: [label: string, value: string | null][];
  /** Empty lists are left out. */
  lists?: { title: string; items: string[] }[];
  /** The one link of the email, if any. */
  action?: { label: string; url: string };
  footer?: string;
}

/** Renders an email's content as its text and HTML bodies (every value escaped in the HTML). */
export function render(content: EmailContent): EmailMessage {
  const facts = content.facts.filter((fact): fact is [string, string] => fact[1] !== null);
  const lists = (content.lists ?? []).filter((list) => list.items.length > 0);
  return {
    to: content.to,
    // A CRM-supplied name must not break the Subject header onto a second line, nor reverse or hide parts of it in
    // the inbox (U+202E RIGHT-TO-LEFT OVERRIDE, U+200F, zero-width characters, NUL): controls and format characters go.
    subject: content.subject
      .replace(/\s+/g, ' ')
      .replace(/[\p{Cc}\p{Cf}]/gu, '')
      .trim(),
    text: renderText(content, facts, lists),
    html: renderHtml(content, facts, lists),
  };
}

function renderText(
  content: EmailContent,
  facts: [string, string][],
  lists: { title: string; items: string[] }[],
): string {
  const blocks = [
    content.heading,
    ...content.paragraphs,
    facts.map(([label, value]) => `${label}: ${value}`).join('\n'),
    ...lists.map((list) => [`${list.title}:`, ...list.items.map((item) => `- ${item}`)].join('\n')),
    content.action ? `${content.action.label}: ${content.action.url}` : '',
    content.footer ?? '',
  ];
  return `${blocks.filter((block) => block !== '').join('\n\n')}\n`;
}

const FONT = 'font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif';

function renderHtml(
  content: EmailContent,
  facts: [string, string][],
  lists: { title: string; items: string[] }[],
): string {
  const paragraph = (text: string) => `<p style="margin:0 0 12px;line-height:1.5">${escapeHtml(text)}</p>`;
  const rows = facts.map(
    ([label, value]) =>
      `<tr><td style="padding:4px 12px 4px 0;color:#555;vertical-align:top;white-space:nowrap">${escapeHtml(label)}</td>` +
      `<td style="padding:4px 0;vertical-align:top">${escapeHtml(value)}</td></tr>`,
  );
  const sections = lists.map(
    (list) =>
      `<h2 style="font-size:16px;margin:20px 0 8px">${escapeHtml(list.title)}</h2>` +
      `<ul style="margin:0;padding-left:20px;line-height:1.5">${list.items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`,
  );
  const action = content.action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(content.action.url)}" style="display:inline-block;padding:12px 20px;` +
      `background:#1f5fd6;color:#ffffff;border-radius:6px;text-decoration:none;font-weight:600">` +
      `${escapeHtml(content.action.label)}</a></p>`
    : '';
  const footer = content.footer
    ? `<p style="margin:16px 0 0;color:#555;font-size:13px;line-height:1.5">${escapeHtml(content.footer)}</p>`
    : '';
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(content.subject)}</title></head>`,
    `<body style="margin:0;padding:16px;background:#f3f4f6;color:#111;${FONT}">`,
    '<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:20px">',
    `<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(content.heading)}</h1>`,
    ...content.paragraphs.map(paragraph),
    rows.length > 0
      ? `<table role="presentation" style="border-collapse:collapse;margin:8px 0">${rows.join('')}</table>`
      : '',
    ...sections,
    action,
    footer,
    '</div></body></html>',
  ].join('\n');
}

/**
 * The missing fields of refused moves, by their descriptions in the stage config (the field name when a criterion has
 * none), e.g. "Decision maker identified (decisionMaker is not empty)".
 */
export function missingFieldLines(reasons: Reason[], config: PipelineConfig): string[] {
  return reasons.flatMap((reason) => {
    if (reason.code !== 'EXIT_CRITERIA_UNMET') return [];
    const stage = config.stages.find((s) => s.key === reason.stage);
    const criteria = [...(stage?.exitCriteria ?? []), ...(stage?.entryCriteria ?? [])];
    return reason.missing.map((field) => {
      const criterion = criteria.find((c) => c.field === field);
      return criterion ? criterionLine(criterion) : field;
    });
  });
}

/**
 * Tells the owner a move was refused: the reasons, the missing fields by their descriptions, and the guidance of the
 * stage the deal is still in (CONTRACT section 4).
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
    subject: `No longer needed: ${shortName(deal)} — ${approval.role}`,
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
export function ownerApprovalsCancelledEmail(input: { deal: Deal; approvals: Approval[] }): EmailMessage {
  const { deal, approvals } = input;
  return render({
    to: ownerEmail(deal),
    subject: `Approvals cancelled: ${shortName(deal)} — ${approvals.map((a) => a.role).join(', ')}`,
    heading: `Pending approvals for ${dealTitle(deal)} were cancelled`,
    paragraphs: [
      "The pipeline's rules changed and the deal's stage no longer asks for these approvals; the deal does not wait " +
        'for them any more.',
    ],
    facts: [['Deal', dealTitle(deal)]],
    lists: [{ title: 'Cancelled', items: approvals.map((a) => `${a.role}: ${a.reason}`) }],
  });
}
