import { cardFields, daysBetween, staleCutoff } from '../core/board.ts';
import type { Approval, Fields } from '../core/deal.ts';
import { ownerDigestEmail, type StageCount, type StaleDeal, summaryDigestEmail } from '../views/digest-emails.ts';
import type { EffectServices } from './effect-services.ts';

/** How many of the stalest deals the pipeline summary names. */
const SUMMARY_DEALS = 20;

/** What one digest run sent. */
export interface DigestReport {
  owners: number;
  staleDeals: number;
  summaries: number;
}

/**
 * The stale-deal digest, for every pipeline: each owner with stale deals gets one email listing them with what each
 * still needs; the pipeline's `digest.to` addresses get the summary. Stale deals are read as a key range of the stage
 * index (entered before now − staleAfterDays), never by scanning.
 */
export async function sendDigest(
  services: Pick<EffectServices, 'deals' | 'pipelines' | 'mailer' | 'clock' | 'publicBaseUrl'>,
): Promise<DigestReport> {
  const report: DigestReport = { owners: 0, staleDeals: 0, summaries: 0 };
  const now = services.clock();
  for (const pipelineId of services.pipelines.pipelineIds()) {
    const { config } = await services.pipelines.current(pipelineId);
    const counts: StageCount[] = [];
    const stale: StaleDeal[] = [];
    for (const stage of config.stages.filter((s) => !s.closed)) {
      const cutoff = staleCutoff(stage, now);
      const open = await services.deals.queryStage(pipelineId, stage.key, { attributes: [] });
      if (cutoff === null || stage.staleAfterDays === undefined) {
        counts.push({ stage, open: open.length, stale: 0 });
        continue;
      }
      const found = await services.deals.queryStage(pipelineId, stage.key, {
        enteredBefore: cutoff,
        attributes: [
          ['dealName'],
          ['owner'],
          ['stageEventAt'],
          ['configVersion'],
          ['approvals'],
          ['pendingMove'],
          ...cardFields(stage.key, [config]).map((field) => ['fields', field]),
        ],
      });
      counts.push({ stage, open: open.length, stale: found.length });
      for (const deal of found) {
        const pinned = deal.configVersion
          ? (await services.pipelines.version(pipelineId, deal.configVersion)).config
          : config;
        stale.push({
          deal: {
            dealId: deal.dealId,
            dealName: deal.dealName ?? null,
            owner: deal.owner ?? null,
            fields: (deal.fields ?? {}) as Fields,
            approvals: (deal.approvals ?? []) as Approval[],
            pendingMove: deal.pendingMove ?? null,
          },
          stage: pinned.stages.find((s) => s.key === stage.key) ?? stage,
          staleAfterDays: stage.staleAfterDays,
          daysInStage: deal.stageEventAt ? daysBetween(deal.stageEventAt, now) : 0,
        });
      }
    }
    stale.sort((a, b) => b.daysInStage - a.daysInStage);
    const byOwner = Map.groupBy(
      stale.filter((s) => s.deal.owner?.email),
      (s) => s.deal.owner?.email as string,
    );
    for (const [to, deals] of byOwner) {
      await services.mailer.send(ownerDigestEmail({ to, config, deals, baseUrl: services.publicBaseUrl }));
      report.owners++;
    }
    for (const to of config.digest?.to ?? []) {
      const stalest = stale.slice(0, SUMMARY_DEALS);
      await services.mailer.send(
        summaryDigestEmail({ to, config, stages: counts, stalest, baseUrl: services.publicBaseUrl }),
      );
      report.summaries++;
    }
    report.staleDeals += stale.length;
  }
  return report;
}
