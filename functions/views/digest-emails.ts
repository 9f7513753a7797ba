import { unmetCriteria } from '../core/criteria.ts';
import type { Deal } from '../core/deal.ts';
import type { PipelineConfig, StageConfig } from '../core/pipeline-config.ts';
import { type EmailMessage, render } from './email-layout.ts';
import { criterionLine, dealTitle } from './wording.ts';

/**
 * The stale-deal digest: each owner gets their stale deals with what each still needs to move
 * on; the pipeline's `digest.to` gets a summary. Pure templates, like the other emails.
 */

/** One stale deal as the digest reports it. */
export interface StaleDeal {
  deal: Pick<Deal, 'dealId' | 'dealName' | 'owner' | 'fields' | 'approvals' | 'pendingMove'>;
  /** The stage under the deal's own config version (its exit criteria say what is missing). */
  stage: StageConfig;
  staleAfterDays: number;
  daysInStage: number;
}

/** What a stale deal still needs before it can move on: open exit criteria, then approvals still pending. */
export function missingToMove(stale: StaleDeal): string[] {
  const criteria = unmetCriteria(stale.stage.exitCriteria, stale.deal.fields).map(criterionLine);
  const pending = stale.deal.approvals
    .filter((approval) => approval.status === 'pending')
    .map((approval) => `Approval by ${approval.role} is pending`);
  return criteria.length + pending.length > 0
    ? [...criteria, ...pending]
    : ['Every exit criterion is met: move the deal to the next stage in the CRM'];
}

const dealLink = (baseUrl: string, pipeline: string, dealId: string) =>
  `${baseUrl}/board/deals/${encodeURIComponent(dealId)}?${new URLSearchParams({ pipeline })}`;

/** One owner's digest: every stale deal of theirs in the pipeline, each with what it is missing and its page. */
export function ownerDigestEmail(input: {
  to: string;
  config: PipelineConfig;
  deals: StaleDeal[];
  baseUrl: string;
}): EmailMessage {
  const { to, config, deals, baseUrl } = input;
  const count = `${deals.length} stale ${deals.length === 1 ? 'deal' : 'deals'}`;
  return render({
    to,
    subject: `${count} in ${config.name}`,
    heading: `${count} waiting for a move`,
    paragraphs: [
      `These deals of yours have been in their stage longer than the stage's limit. Each one lists what it still needs ` +
        'before it can move on.',
    ],
    facts: [],
    lists: deals.map((stale) => ({
      title: `${dealTitle(stale.deal)}: ${stale.daysInStage} days in ${stale.stage.name} (stale after ${stale.staleAfterDays})`,
      items: [...missingToMove(stale), `Open the deal: ${dealLink(baseUrl, config.pipeline, stale.deal.dealId)}`],
    })),
    action: {
      label: 'Open your stale deals on the board',
      url: `${baseUrl}/board?${new URLSearchParams({ pipeline: config.pipeline, owner: to, stale: '1' })}`,
    },
  });
}

/** Per stage of the summary: how many deals are open in it and how many of them are stale. */
export interface StageCount {
  stage: StageConfig;
  open: number;
  stale: number;
}

/** The pipeline summary for `digest.to`: open and stale deals per stage, and the stalest deals with their owners. */
export function summaryDigestEmail(input: {
  to: string;
  config: PipelineConfig;
  stages: StageCount[];
  stalest: StaleDeal[];
  baseUrl: string;
}): EmailMessage {
  const { to, config, stages, stalest, baseUrl } = input;
  const open = stages.reduce((sum, s) => sum + s.open, 0);
  const stale = stages.reduce((sum, s) => sum + s.stale, 0);
  return render({
    to,
    subject: `${config.name}: ${stale} of ${open} open deals are stale`,
    heading: `${config.name}: the pipeline today`,
    paragraphs: [`${open} open deals, ${stale} of them stale (longer in their stage than its limit).`],
    facts: stages.map((s): [string, string] => [s.stage.name, `${s.open} open, ${s.stale} stale`]),
    lists: [
      {
        title: 'Stalest deals',
        items: stalest.map(
          (s) =>
            `${dealTitle(s.deal)}: ${s.daysInStage} days in ${s.stage.name}, owner ${s.deal.owner?.email ?? 'not set'}`,
        ),
      },
    ],
    action: {
      label: 'Open the stale deals on the board',
      url: `${baseUrl}/board?${new URLSearchParams({ pipeline: config.pipeline, stale: '1' })}`,
    },
  });
}
