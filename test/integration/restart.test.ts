import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_FIELDS } from '../../infra/local/default-story.ts';
import { dealAt, getDeal, postGeneric, uniqueId, waitFor } from '../support/api.ts';
import { decide, reviewLink, waitForEmail } from '../support/mail.ts';
import { stackOnDisk } from '../support/stack-process.ts';

/**
 * A stack of its own, on disk, stopped and started again in the middle of deals' lives.
 * The stage config is a copy that the test edits between runs.
 */
describe('restart safety and config versions', () => {
  const onDisk = stackOnDisk('restart');
  const { configFile } = onDisk;
  afterAll(onDisk.stopAndRemove);

  it('keeps deals, history, pending approvals and, with rollout: new-deals-only, config versions across a restart', async () => {
    let stack = await onDisk.start();
    const api = stack.urls.api;

    const early = uniqueId('D');
    await postGeneric({ eventId: uniqueId('E'), dealId: early, stage: 'identify' }, { api });
    const handoff = await dealAt('deliver', { api });
    // The local SES keeps its mail in memory: read both review links before the restart.
    const financeLink = reviewLink(await waitForEmail(stack.urls.ses, 'finance@example.com', [handoff]));
    const legalLink = reviewLink(await waitForEmail(stack.urls.ses, 'legal@example.com', [handoff]));
    const before = await getDeal(early, 'default', api);

    expect(await stack.stop('SIGTERM')).toBe(0);

    // `rollout: new-deals-only` keeps the deals in flight on their version (test/integration/rollout.test.ts covers
    // the default, where they move).
    const edited = readFileSync(configFile, 'utf8')
      .replace(
        '      - field: firstMeetingDate\n        require: date',
        '      - field: firstMeetingDate\n        require: date\n      - field: territory\n        require: present',
      )
      .replace('\nrules:\n', '\nrollout: new-deals-only\n\nrules:\n');
    expect(edited).not.toBe(readFileSync(configFile, 'utf8'));
    writeFileSync(configFile, edited);
    stack = await onDisk.start();

    const after = await getDeal(early, 'default', api);
    expect(after.body.stage).toBe('identify');
    expect(after.body.history).toEqual(before.body.history);
    expect(after.body.configVersion).toBe(before.body.configVersion);

    // The deal started before the edit is judged under its own version: no territory needed.
    const oldRules = await postGeneric(
      { eventId: uniqueId('E'), dealId: early, stage: 'qualify', fields: EXIT_FIELDS.identify },
      { api },
    );
    expect(oldRules.body.outcome).toBe('applied');

    // A new deal starts on the edited version.
    const fresh = uniqueId('D');
    await postGeneric({ eventId: uniqueId('E'), dealId: fresh, stage: 'identify' }, { api });
    const newRules = await postGeneric(
      { eventId: uniqueId('E'), dealId: fresh, stage: 'qualify', fields: EXIT_FIELDS.identify },
      { api },
    );
    expect(newRules.body.reasons).toContainEqual(expect.objectContaining({ missing: ['territory'] }));
    expect((await getDeal(fresh, 'default', api)).body.configVersion).not.toBe(before.body.configVersion);

    // The approval links emailed before the restart still work, and the deal carries on to closed_won.
    expect((await decide(financeLink, 'approve')).status).toBe(200);
    expect((await decide(legalLink, 'approve')).status).toBe(200);
    const won = await postGeneric(
      { eventId: uniqueId('E'), dealId: handoff, stage: 'closed_won', fields: EXIT_FIELDS.deliver },
      { api },
    );
    expect(won.body).toMatchObject({ outcome: 'applied', stage: 'closed_won' });
    await waitFor(
      async () => ((await getDeal(handoff, 'default', api)).body.status === 'won' ? true : undefined),
      'the deal to be won',
    );
  }, 240_000);
});
