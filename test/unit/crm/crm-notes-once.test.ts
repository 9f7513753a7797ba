import { afterEach, describe, expect, it } from 'vitest';
import { HubSpotClient } from '../../../functions/adapters/crm/hubspot.ts';
import { PipedriveClient } from '../../../functions/adapters/crm/pipedrive.ts';
import { SalesforceClient } from '../../../functions/adapters/crm/salesforce.ts';
import type { CrmClient, CrmNote } from '../../../functions/adapters/crm/types.ts';
import { HubSpotStandIn } from '../../support/crm/hubspot.ts';
import { PipedriveStandIn } from '../../support/crm/pipedrive.ts';
import { SalesforceStandIn } from '../../support/crm/salesforce.ts';
import type { CrmStandIn, ScriptedFailure } from '../../support/crm/server.ts';
import { fastRetries } from './fast-retries.ts';

/**
 * A note is written at most once per decision, though none of the three CRMs takes an idempotency
 * key: when a write may have been stored without its answer, or an earlier attempt is in doubt, the client looks for
 * the note's reference on the deal before writing again.
 */

interface Subject {
  standIn: CrmStandIn;
  client: CrmClient;
  dealId: string;
  /** Where notes are created. */
  notePath: string;
  /** Where the client looks for a note. */
  lookupPath: string;
  /** How the CRM refuses that look for good (a read permission missing), in its own answer. */
  readRefused: ScriptedFailure;
}

const subjects: [string, () => Promise<Subject>][] = [
  [
    'HubSpot',
    async () => {
      const standIn = await new HubSpotStandIn().start();
      standIn.addDeal('1001', 'qualifiedtobuy');
      const client = new HubSpotClient({ accessToken: standIn.accessToken, baseUrl: standIn.url }, fastRetries());
      return {
        standIn,
        client,
        dealId: '1001',
        notePath: '/crm/v3/objects/notes',
        lookupPath: '/crm/v4/objects/deals',
        readRefused: { status: 403 },
      };
    },
  ],
  [
    'Pipedrive',
    async () => {
      const standIn = await new PipedriveStandIn().start();
      standIn.addDeal(7, 2);
      const client = new PipedriveClient({ apiToken: standIn.apiToken, baseUrl: standIn.url }, fastRetries());
      return {
        standIn,
        client,
        dealId: '7',
        notePath: '/api/v1/notes',
        lookupPath: '/api/v1/notes',
        readRefused: { status: 403 },
      };
    },
  ],
  [
    'Salesforce',
    async () => {
      const standIn = await new SalesforceStandIn().start();
      standIn.addDeal('006000000000001AAA', 'Propose');
      const { clientId, clientSecret, url } = standIn;
      const client = new SalesforceClient({ clientId, clientSecret, loginUrl: url }, fastRetries());
      const notePath = '/services/data/v62.0/sobjects/Task';
      // Salesforce's 403 is its API limit, retried; a query it will never answer is a 400.
      const lookupPath = '/services/data/v62.0/query';
      return { standIn, client, dealId: '006000000000001AAA', notePath, lookupPath, readRefused: { status: 400 } };
    },
  ],
];

const note = (ref: string, inDoubt = false): CrmNote => ({
  text: 'Stageflow refused the move to Qualify.',
  ref,
  inDoubt,
});

describe.each(subjects)('%s notes, at most once', (_name, start) => {
  let subject: Subject;
  afterEach(() => subject?.standIn.close());
  const notesWritten = () => subject.standIn.requests.filter((r) => r.method === 'POST' && r.path === subject.notePath);

  it('finds a note the CRM stored before its answer was lost, and does not write it again', async () => {
    subject = await start();
    subject.standIn.failNext(1, { status: 502, stored: true }, subject.notePath);

    const result = await subject.client.addNote(subject.dealId, note('default#7'));

    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(subject.standIn.notes(subject.dealId)).toHaveLength(1);
    expect(notesWritten().map((request) => request.status)).toEqual([502]);
  });

  it('writes the note again after a 5xx when the CRM did not store it', async () => {
    subject = await start();
    subject.standIn.failNext(1, { status: 503 }, subject.notePath);

    const result = await subject.client.addNote(subject.dealId, note('default#7'));

    expect(result).toMatchObject({ ok: true, status: 201 });
    expect(subject.standIn.notes(subject.dealId)).toHaveLength(1);
    expect(notesWritten().map((request) => request.status)).toEqual([503, 201]);
  });

  it('in doubt, finds the note an earlier attempt wrote, and writes one about another decision', async () => {
    subject = await start();
    await subject.client.addNote(subject.dealId, note('default#7'));

    expect(await subject.client.addNote(subject.dealId, note('default#7', true))).toMatchObject({ ok: true });
    expect(subject.standIn.notes(subject.dealId)).toHaveLength(1);

    // default#70 begins with default#7: the reference is matched whole.
    expect(await subject.client.addNote(subject.dealId, note('default#70', true))).toMatchObject({ ok: true });
    expect(subject.standIn.notes(subject.dealId)).toHaveLength(2);
    expect(notesWritten()).toHaveLength(2);
  });

  it('in doubt and unable to look (the CRM refuses the read), writes the note rather than lose it', async () => {
    subject = await start();
    subject.standIn.failNext(1, subject.readRefused, subject.lookupPath);

    const result = await subject.client.addNote(subject.dealId, note('default#7', true));

    expect(result).toMatchObject({ ok: true, status: 201 });
    expect(subject.standIn.notes(subject.dealId)).toHaveLength(1);
  });
});
