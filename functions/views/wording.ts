import { amountOf } from '../core/amount.ts';
import { describeCriterion } from '../core/criteria.ts';
import type { Approval, Deal, Owner } from '../core/deal.ts';
import type { Reason } from '../core/decide/reasons.ts';
import { once } from '../core/formatters.ts';
import type { Criterion, PipelineConfig, StageConfig } from '../core/pipeline-config.ts';

/**
 * How Stageflow names things to people, shared by every page and email: deals, people, amounts, times, criteria and
 * the facts of an approval request. Plain strings; each page or email escapes them where it renders HTML.
 */

/** Who an approval request goes to: an approver role's name and address from the pipeline config. */
export interface Approver {
  name: string;
  email: string;
}

/** What names a deal: its id, and its name when the CRM sent one. */
type DealNaming = { dealId: string; dealName?: string | null };

/** A labelled value of a facts table; a null value (unknown) is left out. */
export type Fact = [label: string, value: string | null];

/** "27 Nov 2026, 10:00" in UTC; built on first use, since building it loads ICU data. */
const utcDateTime = once(
  () => new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
);

const amountFormats = new Map<string, Intl.NumberFormat>();

/** An amount in a currency (ISO 4217 code) as people read it, or a grouped plain number when the currency is unknown. */
export function formatMoney(amount: number, currency: string | null): string {
  const key = currency ?? '';
  let format = amountFormats.get(key);
  if (!format) {
    format = currency
      ? new Intl.NumberFormat('en-US', { style: 'currency', currency })
      : new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
    amountFormats.set(key, format);
  }
  return format.format(amount);
}

const totalFormats = new Map<string, Intl.NumberFormat>();

/** A total in a currency as a column shows it: whole amounts without cents (`$1,234,000`), others with them. */
export function formatTotal(amount: number, currency: string | null): string {
  const key = currency ?? '';
  let format = totalFormats.get(key);
  if (!format) {
    format = currency
      ? new Intl.NumberFormat('en-US', { style: 'currency', currency, trailingZeroDisplay: 'stripIfInteger' })
      : new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
    totalFormats.set(key, format);
  }
  return format.format(amount);
}

/** An ISO timestamp as people read it, in UTC, e.g. `27 Nov 2026, 10:00 UTC`. */
export function formatTime(iso: string): string {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? iso : `${utcDateTime().format(at)} UTC`;
}

/**
 * The deal's amount for display, if the deal has one: numbers grouped (with the currency when the CRM sent an ISO
 * code), any other non-empty text as it came; null when no amount field is set.
 */
export function dealAmount(deal: Pick<Deal, 'fields'>): string | null {
  const { value, text, currency } = amountOf(deal.fields);
  return value === null ? text : formatMoney(value, currency);
}

/** The deal as people name it: `Acme rollout (D-1001)`, or the id alone when the CRM sent no name. */
export function dealTitle(deal: DealNaming): string {
  return deal.dealName ? `${deal.dealName} (${deal.dealId})` : deal.dealId;
}

/** The deal's name alone, for a subject line or a card: the id when the CRM sent no name. */
export function shortName(deal: DealNaming): string {
  return deal.dealName || deal.dealId;
}

/** A person as people name them: `Riley Rep <rep@example.com>`, or whichever part is known. */
export function personLabel(person: Owner | null): string {
  if (person?.name && person.email) return `${person.name} <${person.email}>`;
  return person?.name || person?.email || 'not set';
}

/** The owner by name, else by address; null when the deal has no owner. */
export function ownerName(deal: { owner?: Owner | null }): string | null {
  return deal.owner?.name || deal.owner?.email || null;
}

/**
 * The deal's values an approval covers, as people read them: `discountPercent = 25`; null when its condition
 * looked at none.
 */
export function approvedValues(approval: Approval): string | null {
  const entries = Object.entries(approval.conditionValues ?? {});
  if (entries.length === 0) return null;
  const shown = (value: unknown) =>
    value === null || value === undefined
      ? 'not set'
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  return entries.map(([field, value]) => `${fieldInWords(field)}: ${shown(value)}`).join(', ');
}

/** A field key as words for people: `discountPercent` and `discount_percent` read "Discount percent". */
export function fieldInWords(field: string): string {
  const words = field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter((word) => word !== '')
    .map((word) => (/^[A-Z0-9]+$/.test(word) ? word : word.toLowerCase()));
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** What an approver is asked to decide, in the same words on the review page and in the approval email. */
export function approvalFacts(view: { deal: Deal; approval: Approval; stage: StageConfig }): Fact[] {
  const { deal, approval, stage } = view;
  return [
    ['Deal', dealTitle(deal)],
    ['Owner', personLabel(deal.owner)],
    ['Amount', dealAmount(deal)],
    ['Stage', stage.name],
    ['What you approve', approval.reason],
    ['Values you approve', approvedValues(approval)],
    ['Requested', formatTime(approval.requestedAt)],
    ['Expires', formatTime(approval.expiresAt)],
  ];
}

/** One open criterion for the owner: its description, with the exact rule. */
export function criterionLine(criterion: Criterion): string {
  const rule = describeCriterion(criterion);
  return criterion.description ? `${criterion.description} (${rule})` : rule;
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
