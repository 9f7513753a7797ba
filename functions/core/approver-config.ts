import * as z from 'zod';
import { sameAddress } from './email-address.ts';

/**
 * The schema of one approver role (`approvers.<role>` in a stage config): one person (`email`) or a group
 * (`members`, `decide: any | all`), with delegations while someone is away, an escalation address, and a deal field
 * that names the approver. Every key is optional beside `name` and one of `email`/`members`, and none has a default,
 * so a config written before these keys existed keeps its version.
 */

/** `2026-12-01` (a whole day, UTC) or a full ISO timestamp (`2026-12-01T09:00:00Z`, an exact moment). */
const DATE_OR_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

const moment = z
  .string()
  .regex(DATE_OR_TIME, 'write a date (2026-12-01) or a timestamp with its zone (2026-12-01T09:00:00Z)')
  .refine((text) => !Number.isNaN(Date.parse(text)), 'this is not a date on the calendar')
  .describe('a date (the whole day, UTC) or an ISO timestamp with its zone');

export const DelegateSchema = z
  .strictObject({
    to: z.email().describe('the address asked instead while the delegation is active'),
    from: moment.describe('the first day (or moment) of the delegation'),
    until: moment.describe('the last day of the delegation (a date counts whole), or the moment it ends'),
    for: z
      .email()
      .optional()
      .describe("whose requests the delegate takes: one of the group's members (default: the role's `email`)"),
  })
  .describe('a delegation: while it is active, its delegate is asked instead of the person it stands in for');
export type Delegate = z.infer<typeof DelegateSchema>;

export const ApproverSchema = z
  .strictObject({
    name: z.string().min(1).describe('the name of the approving team or person, shown in emails and pages'),
    email: z.email().optional().describe('the one person asked (give `email` or `members`)'),
    members: z
      .array(z.email())
      .min(1)
      .optional()
      .describe('a group: every member is asked, each with their own review link (give `email` or `members`)'),
    decide: z
      .enum(['any', 'all'])
      .optional()
      .describe('for a group — any (default): the first decision decides for the role; all: every member must approve'),
    delegates: z
      .array(DelegateSchema)
      .optional()
      .describe('delegations with their dates: while one is active, its delegate is asked instead'),
    escalateTo: z.email().optional().describe('copied on the reminder, and told when the request expires'),
    fromField: z
      .string()
      .min(1)
      .optional()
      .describe(
        'a deal field that names the approver: its address is asked when it holds one, else the configured one',
      ),
  })
  .superRefine((approver, ctx) => {
    if ((approver.email === undefined) === (approver.members === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: approver.email === undefined ? [] : ['members'],
        message:
          approver.email === undefined
            ? 'an approver needs `email` (one person) or `members` (a group) — add one of them'
            : 'an approver has either `email` (one person) or `members` (a group), not both — remove one',
      });
    }
    if (approver.decide !== undefined && approver.members === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['decide'],
        message: '`decide` applies to a group — list its `members`, or remove `decide`',
      });
    }
    const members = approver.members ?? [];
    const duplicate = members.findIndex((m, at) => members.findIndex((n) => sameAddress(m, n)) !== at);
    if (duplicate >= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['members', duplicate],
        message: `'${members[duplicate]}' is listed twice — list each member once`,
      });
    }
    (approver.delegates ?? []).forEach((delegate, index) => {
      const path = ['delegates', index];
      if (Date.parse(delegate.from) > Date.parse(delegate.until)) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'until'],
          message: `the delegation ends (${delegate.until}) before it starts (${delegate.from}) — swap the dates`,
        });
      }
      const standsInFor = delegate.for ?? approver.email;
      if (standsInFor === undefined) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `a delegation of a group names the member it stands in for — add 'for: <one of ${members.join(', ')}>'`,
        });
      } else if (![approver.email, ...members].some((a) => a !== undefined && sameAddress(a, standsInFor))) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'for'],
          message: `'${standsInFor}' is not this role's approver — name '${approver.email ?? members.join("', '")}'`,
        });
      }
      if (sameAddress(delegate.to, standsInFor ?? '')) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'to'],
          message: 'a delegate stands in for someone else — name another address in `to`',
        });
      }
    });
  })
  .describe(
    'one approver role: one person or a group, with delegations, escalation and a deal field naming the approver',
  );
export type ApproverConfig = z.infer<typeof ApproverSchema>;
