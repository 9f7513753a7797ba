import type { Fields } from '../../functions/core/deal.ts';

/**
 * One deal's way through the default pipeline (stage-config/default.yaml), as the demo, the tests and the benchmarks
 * tell it: the open stages in order, and fields that satisfy each one's exit criteria.
 */

/** The default pipeline's open stages, in order. */
export const OPEN_STAGES = ['identify', 'qualify', 'propose', 'negotiate', 'deliver'] as const;
export type OpenStage = (typeof OPEN_STAGES)[number];

/** Where the story ends: the stage a deal is won at. */
export const WON_STAGE = 'closed_won';

/** The pipeline the story runs through. */
export const STORY_PIPELINE = 'default';

/** Fields that satisfy each open stage's exit criteria: a deal that has them may leave the stage. */
export const EXIT_FIELDS: Readonly<Record<string, Fields>> = {
  identify: { decisionMaker: 'Jane Roe', firstMeetingDate: '2026-11-20' },
  qualify: { champion: 'Sam Champion', budgetConfirmed: true },
  propose: {
    decisionCriteria: 'ROI within 12 months',
    quoteId: 'Q-2041',
    pricingPresented: true,
    closePlan: 'Signature before quarter end',
  },
  negotiate: { signaturePackageReady: true, signatureDate: '2026-12-10', kickoffDate: '2027-01-05' },
  deliver: { contractSigned: true, orderFormSigned: true },
};

/** The story's deal as the CRM creates it. */
export const STORY_DEAL = {
  dealName: 'Acme rollout',
  owner: { email: 'rep@example.com', name: 'Riley Rep' },
  fields: { amount: 48_000, currency: 'USD' },
} as const;

/** The fields that let a deal leave `stage`. */
export function exitFields(stage: string): Fields {
  const fields = EXIT_FIELDS[stage];
  if (!fields) throw new Error(`the default story has no exit fields for '${stage}'`);
  return fields;
}

/** The stage after `stage` on the way to won. */
export function nextStage(stage: OpenStage): string {
  return OPEN_STAGES[OPEN_STAGES.indexOf(stage) + 1] ?? WON_STAGE;
}

/** The fields a deal has gathered on reaching `stage`: the exit fields of every open stage before it. */
export function fieldsOnReaching(stage: OpenStage): Fields {
  return Object.assign({}, ...OPEN_STAGES.slice(0, OPEN_STAGES.indexOf(stage)).map((before) => EXIT_FIELDS[before]));
}
