import type { ApproverConfig, Delegate } from './approver-config.ts';
import type { Approval, ApprovalAsk, Fields, Person } from './deal.ts';
import { isEmailAddress, sameAddress } from './email-address.ts';

/**
 * Who is asked for an approval: the role's one person or every member of its group; the person the deal's
 * `fromField` names when it holds a valid address; and, while a delegation is active, its delegate instead of the
 * person it stands in for. Pure: the moment is given.
 */

/** One person to ask, and whom they stand in for when they are a delegate. */
export interface Target extends Person {
  onBehalfOf: Person | null;
}

/** The people a request of this role goes to at `now`, given the deal's fields. */
export function approverTargets(approver: ApproverConfig, fields: Fields, now: string): Target[] {
  const targets: Target[] = [];
  for (const person of principals(approver, fields)) {
    const delegate = (approver.delegates ?? []).find(
      (d) => sameAddress(d.for ?? approver.email ?? '', person.email) && delegationActive(d, now),
    );
    const target = delegate ? { email: delegate.to, name: null, onBehalfOf: person } : { ...person, onBehalfOf: null };
    if (!targets.some((t) => sameAddress(t.email, target.email))) targets.push(target);
  }
  return targets;
}

/** The people the role names, before delegations: the deal's `fromField` address, else the configured ones. */
function principals(approver: ApproverConfig, fields: Fields): Person[] {
  const named = approver.fromField === undefined ? undefined : fields[approver.fromField];
  if (typeof named === 'string' && isEmailAddress(named.trim())) return [{ email: named.trim(), name: null }];
  if (approver.members) return approver.members.map((email) => ({ email, name: null }));
  return [{ email: approver.email ?? '', name: approver.name }];
}

/** Whether a delegation is active at `now`: from its start until its end (a date-only `until` counts whole). */
export function delegationActive(delegate: Delegate, now: string): boolean {
  const at = Date.parse(now);
  return at >= Date.parse(delegate.from) && at < delegationEnd(delegate);
}

function delegationEnd(delegate: Delegate): number {
  const end = Date.parse(delegate.until);
  return delegate.until.includes('T') ? end : end + 86_400_000;
}

/** The next moment after `now` at which a delegation of the role starts or ends, or null when none will. */
export function nextRoutingChange(approver: ApproverConfig, now: string): string | null {
  const at = Date.parse(now);
  const moments = (approver.delegates ?? [])
    .flatMap((d) => [Date.parse(d.from), delegationEnd(d)])
    .filter((moment) => moment > at);
  return moments.length === 0 ? null : new Date(Math.min(...moments)).toISOString();
}

/** The person a request stands for: the one it stands in for, else the person asked. */
function seatOf(person: { email: string; onBehalfOf: Person | null }): string {
  return (person.onBehalfOf?.email ?? person.email).toLowerCase();
}

/**
 * Brings an approval's requests in line with whom the role asks now: a pending request to someone no longer asked is
 * `withdrawn`, and everyone now asked who has no request standing for them gets one. A seat already decided (a
 * member's approval under `decide: all`) is not asked again. Sets when to work it out again (`rerouteAt`).
 * @returns the requests this added and the ones it withdrew
 */
export function routeApproval(
  approval: Approval,
  approver: ApproverConfig,
  fields: Fields,
  now: string,
): { asked: ApprovalAsk[]; withdrawn: ApprovalAsk[] } {
  const targets = approverTargets(approver, fields, now);
  const asks = approval.asks ?? [];
  const withdrawn: ApprovalAsk[] = [];
  for (const ask of asks) {
    const stillAsked = targets.some((t) => sameAddress(t.email, ask.email) && seatOf(t) === seatOf(ask));
    if (ask.status === 'pending' && !stillAsked) {
      ask.status = 'withdrawn';
      ask.decidedAt = now;
      withdrawn.push({ ...ask });
    }
  }
  const asked: ApprovalAsk[] = [];
  for (const target of targets) {
    if (asks.some((ask) => ask.status !== 'withdrawn' && seatOf(ask) === seatOf(target))) continue;
    const ask: ApprovalAsk = {
      askId: String(asks.length + 1),
      ...target,
      status: 'pending',
      askedAt: now,
      decidedAt: null,
    };
    asks.push(ask);
    asked.push({ ...ask });
  }
  approval.asks = asks;
  if (approver.members) approval.decide = approver.decide ?? 'any';
  const next = nextRoutingChange(approver, now);
  if (next !== null && Date.parse(next) < Date.parse(approval.expiresAt)) approval.rerouteAt = next;
  else delete approval.rerouteAt;
  return { asked, withdrawn };
}

/**
 * The requests of an approval. An approval stored before per-person requests has one implied request, to the role's
 * configured address, whose link carries no request id (`askId` empty).
 */
export function asksOf(approval: Approval, approver: ApproverConfig | undefined): ApprovalAsk[] {
  if (approval.asks) return approval.asks;
  if (approver?.email === undefined) return [];
  return [
    {
      askId: '',
      email: approver.email,
      name: approver.name,
      onBehalfOf: null,
      status: approval.status === 'pending' ? 'pending' : 'withdrawn',
      askedAt: approval.requestedAt,
      decidedAt: approval.decidedAt,
    },
  ];
}

/** How a person is named where people read it: `Name <address>`, or the address alone. */
export function personName(person: Person): string {
  return person.name ? `${person.name} <${person.email}>` : person.email;
}

/** A request's person as people read it, with whom a delegate stands in for. */
export function askLabel(ask: { email: string; name: string | null; onBehalfOf: Person | null }): string {
  return ask.onBehalfOf ? `${personName(ask)} on behalf of ${personName(ask.onBehalfOf)}` : personName(ask);
}
