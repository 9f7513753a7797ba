import { mailIdentity } from '../adapters/mailer.ts';
import { cardAttributes, daysBetween, staleCutoff } from '../core/board.ts';
import type { Approval, Fields } from '../core/deal.ts';
import { ownerDigestEmail, type StageCount, type StaleDeal, summaryDigestEmail } from '../views/digest-emails.ts';
import type { EffectServices } from './effect-services.ts';
import { acceptedSince } from './mail-once.ts';

/** How many of the stalest deals the pipeline summary names. */
const SUMMARY_DEALS = 20;

/** What one digest run sent. */
export interface DigestReport {
  owners: number;
  staleDeals: number;
  summaries: number;
  /** Emails an earlier attempt of the same run had sent already, so not sent again. */
  alreadySent: number;
}

/** Some emails of a digest run could not be sent; the others were, and a retry of the run sends only the missing. */
export class DigestIncompleteError extends Error {
  constructor(failed: string[], cause: unknown) {
    super(`the digest could not be sent to ${failed.length} address(es): ${failed.join(', ')}`, { cause });
    this.name = 'DigestIncompleteError';
  }
}

/**
 * The stale-deal digest, for every pipeline: each owner with stale deals gets one email listing them with what each
 * still needs; the pipeline's `digest.to` addresses get the summary. Stale deals are read as a key range of the stage
 * index (entered before now − staleAfterDays), never by scanning.
 *
 * `run` names the run (the schedule's time): each address emailed is marked for it, so a retry of a partly failed run
 * emails only the addresses the failed attempt missed; an address not marked is looked up in the mail log first (an
 * attempt may have died between the send and the mark), and one the mail service accepted is not emailed again. An
 * address that cannot be emailed does not stop the others; the run then throws {@link DigestIncompleteError}, so the
 * schedule retries it. Only the stages the read model's totals count open deals in are read.
 */
export async function sendDigest(
  services: Pick<EffectServices, 'deals' | 'pipelines' | 'mailer' | 'mailLog' | 'clock' | 'publicBaseUrl' | 'insights'>,
  run: string = services.clock().toISOString(),
): Promise<DigestReport> {
  const report: DigestReport = { owners: 0, staleDeals: 0, summaries: 0, alreadySent: 0 };
  const now = services.clock();
  const since = acceptedSince(Number.isNaN(Date.parse(run)) ? now.toISOString() : run);
  const failed: string[] = [];
  let firstError: unknown;
  for (const pipelineId of services.pipelines.pipelineIds()) {
    const { sent, retry } = await services.deals.startDigestAttempt(pipelineId, run, now.toISOString());
    /** Sends one email of this run unless an earlier attempt did; true when it was sent now. */
    const sendOnce = async (to: string, message: Parameters<typeof services.mailer.send>[0]): Promise<boolean> => {
      if (sent.has(to)) {
        report.alreadySent++;
        return false;
      }
      const identity = mailIdentity('digest', pipelineId, run, to);
      let acceptedBefore = false;
      try {
        // An earlier attempt may have died between a send and its mark: the mail service knows the email, so it is
        // not repeated. A first attempt has nothing to look up.
        acceptedBefore = retry && (await services.mailLog.accepted(identity, since));
        if (!acceptedBefore) await services.mailer.send(message, identity);
      } catch (error) {
        failed.push(to);
        firstError ??= error;
        return false;
      }
      await services.deals.markDigestSent(pipelineId, run, to, services.clock().toISOString());
      if (acceptedBefore) report.alreadySent++;
      return !acceptedBefore;
    };
    const [{ config }, totals] = await Promise.all([
      services.pipelines.current(pipelineId),
      services.insights.totals(pipelineId),
    ]);
    const counts: StageCount[] = [];
    const stale: StaleDeal[] = [];
    for (const stage of config.stages.filter((s) => !s.closed)) {
      // A stage the read model counts no open deal in is not read: the digest's queries follow the deals.
      if ((totals[`count#${stage.key}`] ?? 0) <= 0) {
        counts.push({ stage, open: 0, stale: 0 });
        continue;
      }
      const cutoff = staleCutoff(stage, now);
      const open = await services.deals.queryStage(pipelineId, stage.key, { attributes: [] });
      if (cutoff === null || stage.staleAfterDays === undefined) {
        counts.push({ stage, open: open.length, stale: 0 });
        continue;
      }
      const found = await services.deals.queryStage(pipelineId, stage.key, {
        enteredBefore: cutoff,
        attributes: cardAttributes(stage.key, [config]),
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
      if (await sendOnce(to, ownerDigestEmail({ to, config, deals, baseUrl: services.publicBaseUrl }))) {
        report.owners++;
      }
    }
    for (const to of config.digest?.to ?? []) {
      const stalest = stale.slice(0, SUMMARY_DEALS);
      const summary = summaryDigestEmail({ to, config, stages: counts, stalest, baseUrl: services.publicBaseUrl });
      if (await sendOnce(`summary:${to}`, summary)) report.summaries++;
    }
    report.staleDeals += stale.length;
  }
  if (failed.length > 0) throw new DigestIncompleteError(failed, firstError);
  return report;
}
