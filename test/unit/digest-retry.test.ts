import { describe, expect, it } from 'vitest';
import { sendDigest } from '../../functions/usecases/digest.ts';
import type { EmailMessage } from '../../functions/views/email-layout.ts';
import { defaultPipeline } from './core/default-pipeline.ts';

/** A digest run whose mail fails for one owner: a retry of the same run emails that owner only. */
describe('a partly failed digest run', () => {
  it('emails on its retry only the addresses the failed attempt missed', async () => {
    const pipeline = defaultPipeline();
    const now = new Date('2026-03-01T07:00:00Z');
    const stale = ['ann', 'bob', 'cid'].map((name) => ({
      dealId: `D-${name}`,
      dealName: `Deal of ${name}`,
      owner: { email: `${name}@example.com` },
      stageEventAt: '2026-01-01T00:00:00Z',
      configVersion: pipeline.version,
      fields: {},
      approvals: [],
      pendingMove: null,
    }));
    const marks = new Map<string, Set<string>>();
    const attempts = new Map<string, number>();
    let lookups = 0;
    const sent: string[] = [];
    // What the mail service accepted, by email identity: the mail log.
    const accepted = new Set<string>();
    let mailDown = new Set(['bob@example.com']);
    const services = {
      clock: () => now,
      publicBaseUrl: 'http://127.0.0.1:3000',
      pipelines: {
        pipelineIds: () => ['default'],
        current: async () => pipeline,
        version: async () => pipeline,
      },
      deals: {
        queryStage: async (_: string, stage: string, query: { enteredBefore?: string }) =>
          stage === 'identify' && query.enteredBefore !== undefined ? stale : [],
        startDigestAttempt: async (p: string, run: string) => {
          const key = `${p}/${run}`;
          attempts.set(key, (attempts.get(key) ?? 0) + 1);
          return { sent: new Set(marks.get(key)), retry: (attempts.get(key) ?? 0) > 1 };
        },
        markDigestSent: async (p: string, run: string, to: string) => {
          const key = `${p}/${run}`;
          marks.set(key, new Set([...(marks.get(key) ?? []), to]));
        },
      },
      insights: { totals: async () => ({ 'count#identify': stale.length }) },
      mailer: {
        send: async (message: EmailMessage, identity: string) => {
          if (mailDown.has(message.to)) throw new Error('MessageRejected');
          sent.push(message.to);
          accepted.add(identity);
        },
      },
      mailLog: {
        accepted: async (identity: string) => {
          lookups++;
          return accepted.has(identity);
        },
      },
    } as unknown as Parameters<typeof sendDigest>[0];

    const run = '2026-03-01T07:00:00Z';
    await expect(sendDigest(services, run)).rejects.toMatchObject({ name: 'DigestIncompleteError' });
    expect(sent.sort()).toEqual(['ann@example.com', 'cid@example.com', 'sales-manager@example.com']);

    mailDown = new Set();
    sent.length = 0;
    const retry = await sendDigest(services, run);
    expect(sent).toEqual(['bob@example.com']);
    expect(retry).toMatchObject({ owners: 1, summaries: 0, alreadySent: 3 });

    sent.length = 0;
    lookups = 0;
    await sendDigest(services, '2026-03-02T07:00:00Z');
    expect(sent).toHaveLength(4);
    expect(lookups, 'a first attempt of a run has nothing to look up in the mail log').toBe(0);

    // An attempt that dies right after the mail service accepted its first email, before the mark: the retry asks
    // the mail log and does not send that email again.
    sent.length = 0;
    const markDigestSent = services.deals.markDigestSent.bind(services.deals);
    services.deals.markDigestSent = async () => {
      throw new Error('the process died');
    };
    await expect(sendDigest(services, '2026-03-03T07:00:00Z')).rejects.toThrow('the process died');
    expect(sent).toHaveLength(1);
    services.deals.markDigestSent = markDigestSent;
    const afterCrash = await sendDigest(services, '2026-03-03T07:00:00Z');
    expect(sent).toHaveLength(4);
    expect(new Set(sent).size).toBe(4);
    expect(afterCrash).toMatchObject({ alreadySent: 1 });
  });
});
