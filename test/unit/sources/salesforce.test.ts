import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { BadRequestError, UnauthorizedError } from '../../../functions/core/errors.ts';
import { PipelineConfigSchema } from '../../../functions/core/pipeline-config.ts';
import { salesforceAdapter } from '../../../functions/sources/salesforce.ts';
import type { WebhookRequest } from '../../../functions/sources/types.ts';
import {
  defaultPipelineConfig,
  fixture,
  readAs,
  sourceContext,
  TEST_SECRETS,
  webhookRequest,
} from '../../fixtures/signing.ts';

const receivedAt = new Date('2026-11-27T10:05:00Z');
const token = TEST_SECRETS.salesforceWebhookToken;
const orgId = TEST_SECRETS.salesforceOrgId;
const enterprise = PipelineConfigSchema.parse({
  ...defaultPipelineConfig(),
  pipeline: 'enterprise',
  crm: {
    salesforce: {
      stages: { Prospecting: 'identify', 'Needs Analysis': 'qualify' },
      fields: { Decision_Maker__c: 'decisionMaker', Amount: 'amount' },
    },
  },
});
const ctx = sourceContext([defaultPipelineConfig(), enterprise]);

const request = (body: string, query: WebhookRequest['query'] = { token }) =>
  webhookRequest('salesforce', body, receivedAt, { headers: { 'content-type': 'text/xml; charset=utf-8' }, query });
const parse = (body: string, query: WebhookRequest['query'] = { token }) =>
  readAs(salesforceAdapter.parse(request(body, query), ctx), ctx, query.pipeline);
const badRequest = (code: string, issues: unknown[] = []) =>
  expect.objectContaining({ name: 'BadRequestError', code, issues: expect.arrayContaining(issues) });
const issueAt = (path: string) => expect.objectContaining({ path, message: expect.any(String) });

/** An outbound message with the given `<Notification>` elements, in Salesforce's envelope. */
function outboundMessage(notifications: string, organizationId = orgId): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${organizationId}</OrganizationId>
   <ActionId>04k5A000000CaSbQAK</ActionId>${notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`;
}

/** One Opportunity notification whose sObject holds the given inner XML. */
function notification(sObject: string, id = '04l5A000001DqAbQAK'): string {
  return `<Notification><Id>${id}</Id><sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">${sObject}</sObject></Notification>`;
}

const opportunity = (inner: string) => outboundMessage(notification(`<sf:Id>006A</sf:Id>${inner}`));
/** The SOAP body of an answer, namespace prefixes kept as written. */
const soapBody = (xml: string | undefined) =>
  new XMLParser({ ignoreAttributes: false, parseTagValue: false }).parse(xml ?? '')['soapenv:Envelope']['soapenv:Body'];

describe('salesforce adapter: authenticate', () => {
  const body = fixture('salesforce', 'opportunity.xml');

  it('accepts the configured token in the query string', () => {
    expect(() => salesforceAdapter.authenticate(request(body), ctx)).not.toThrow();
  });

  it.each([
    ['missing', {}],
    ['empty', { token: '' }],
    ['wrong', { token: 'salesforce-test-tokem' }],
    ['a prefix of the right one', { token: token.slice(0, -1) }],
  ])('refuses a token that is %s, without naming it', (_, query) => {
    expect(() => salesforceAdapter.authenticate(request(body, query), ctx)).toThrow(
      expect.objectContaining({
        name: 'UnauthorizedError',
        message: expect.stringMatching(/SALESFORCE_WEBHOOK_TOKEN/),
      }),
    );
    expect(() => salesforceAdapter.authenticate(request(body, query), ctx)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(token) }),
    );
  });
});

describe('salesforce adapter: parse', () => {
  it('translates an Opportunity notification into its canonical event', () => {
    expect(parse(fixture('salesforce', 'opportunity.xml'))).toStrictEqual([
      {
        source: 'salesforce',
        eventId: '04l5A000001DqAbQAK',
        pipeline: 'default',
        dealId: '0065A00000Ab1CdQAJ',
        stage: 'qualify',
        occurredAt: '2026-11-27T10:00:00.000Z',
        dealName: 'Acme rollout',
        fields: {
          Amount: '50000.0',
          CloseDate: '2026-12-31',
          Decision_Maker__c: 'Jane Roe & Partners',
          Description: null,
          LastModifiedDate: '2026-11-27T10:00:00.000Z',
        },
        crm: { instanceUrl: 'https://acme.my.salesforce.com' },
      },
    ]);
  });

  it('translates a batch oldest first, timing each by LastModifiedDate or SystemModstamp', () => {
    expect(parse(fixture('salesforce', 'batch.xml'))).toStrictEqual([
      {
        source: 'salesforce',
        eventId: '04l5A000001DqAdQAK',
        pipeline: 'default',
        dealId: '0065A00000Zz9YxQAJ',
        stage: 'closed_lost',
        occurredAt: '2026-11-27T10:01:00.000Z',
        dealName: 'Globex pilot',
        fields: { LastModifiedDate: '2026-11-27T10:01:00.000Z', Loss_Reason__c: 'Budget cut' },
        crm: { instanceUrl: 'https://acme.my.salesforce.com' },
      },
      {
        source: 'salesforce',
        eventId: '04l5A000001DqAcQAK',
        pipeline: 'default',
        dealId: '0065A00000Ab1CdQAJ',
        stage: 'deliver',
        occurredAt: '2026-11-27T10:02:00.000Z',
        dealName: 'Acme rollout',
        fields: { Champion__c: 'Sam Lee', SystemModstamp: '2026-11-27T10:02:00.000Z' },
        crm: { instanceUrl: 'https://acme.my.salesforce.com' },
      },
    ]);
  });

  it('maps every StageName of the default pipeline to its stage', () => {
    const names = ['Identify', 'Qualify', 'Propose', 'Negotiate', 'Deliver/Finalize', 'Closed Won', 'Closed Lost'];
    const body = outboundMessage(
      names
        .map((name, i) =>
          notification(
            `<sf:Id>006A</sf:Id><sf:StageName>${name}</sf:StageName><sf:LastModifiedDate>2026-11-27T10:0${i}:00Z</sf:LastModifiedDate>`,
            `04l${i}`,
          ),
        )
        .join(''),
    );
    expect(parse(body).map((event) => event.stage)).toStrictEqual([
      'identify',
      'qualify',
      'propose',
      'negotiate',
      'deliver',
      'closed_won',
      'closed_lost',
    ]);
  });

  it("keeps an unmapped StageName as 'salesforce:<name>', and takes the time of receipt without a modstamp", () => {
    const [event] = parse(opportunity('<sf:StageName>Prospecting</sf:StageName>'));
    expect(event?.stage).toBe('salesforce:Prospecting');
    expect(event?.occurredAt).toBe(receivedAt.toISOString());
  });

  it('reads a nil or empty StageName as no move', () => {
    expect(parse(opportunity('<sf:StageName xsi:nil="true"/>'))[0]).not.toHaveProperty('stage');
    expect(parse(opportunity('<sf:StageName></sf:StageName>'))[0]).not.toHaveProperty('stage');
  });

  it('keeps field text exactly as sent, decoding XML escapes and character references', () => {
    const [event] = parse(
      opportunity('<sf:Next_Step__c>  Call &lt;Jane&gt; &amp; Sam&#39;s team&#x21; </sf:Next_Step__c>'),
    );
    expect(event?.fields).toStrictEqual({ Next_Step__c: "  Call <Jane> & Sam's team! " });
  });

  it('maps and renames through the pipeline named in the URL', () => {
    const body = opportunity(
      '<sf:Amount>10.0</sf:Amount><sf:Decision_Maker__c>Jane</sf:Decision_Maker__c><sf:StageName>Needs Analysis</sf:StageName>',
    );
    const [event] = parse(body, { token, pipeline: 'enterprise' });
    expect(event).toMatchObject({ pipeline: 'enterprise', stage: 'qualify' });
    expect(event?.fields).toStrictEqual({ amount: '10.0', decisionMaker: 'Jane' });
  });

  it('refuses a message from another org with 401, without naming either org id', () => {
    const foreign = fixture('salesforce', 'opportunity.xml').replace(orgId, '00D000000000099ZZZ');
    expect(() => parse(foreign)).toThrow(UnauthorizedError);
    expect(() => parse(foreign)).toThrow(
      expect.objectContaining({ message: expect.not.stringMatching(/00D000000000099ZZZ|00D000000000062EAA/) }),
    );
  });

  it.each([
    ['the 15-character id Setup shows', '00D000000000062', orgId],
    ['the 18-character id', orgId, orgId],
    ['the 18-character id in lower case', orgId.toLowerCase(), orgId],
    ['the 18-character id, with a message carrying the 15-character one', orgId, '00D000000000062'],
    ['the 15-character id with spaces pasted around it', ' 00D000000000062 ', orgId],
  ])('accepts SALESFORCE_ORG_ID given as %s', (_, configured, sent) => {
    const withOrg = { ...ctx, secrets: { ...ctx.secrets, salesforceOrgId: configured } };
    const body = fixture('salesforce', 'opportunity.xml').replace(orgId, sent);

    expect(salesforceAdapter.parse(request(body), withOrg).length).toBeGreaterThan(0);
  });

  it.each([
    ['a 15-character id differing only in case (15-character ids are case-sensitive)', '00d000000000062'],
    ['an 18-character id whose checksum does not match', '00D000000000062AAA'],
    ['text that is no Salesforce id', 'not-an-org-id'],
  ])('refuses SALESFORCE_ORG_ID given as %s', (_, configured) => {
    const withOrg = { ...ctx, secrets: { ...ctx.secrets, salesforceOrgId: configured } };

    expect(() => salesforceAdapter.parse(request(fixture('salesforce', 'opportunity.xml')), withOrg)).toThrow(
      UnauthorizedError,
    );
  });

  it.each([
    ['with internal entities and an external one', fixture('salesforce', 'doctype.xml')],
    ['in lower case', `<!doctype x>${fixture('salesforce', 'opportunity.xml').replace(/^<\?xml[^>]*>/, '')}`],
  ])('refuses a DOCTYPE %s before parsing anything', (_, body) => {
    expect(() => parse(body)).toThrow(badRequest('DOCTYPE_NOT_ALLOWED'));
  });

  it('refuses XML that is not well-formed, saying where', () => {
    expect(() => parse('<a>\n<b></a>')).toThrow(
      badRequest('INVALID_XML', [expect.objectContaining({ line: 2, column: expect.any(Number) })]),
    );
  });

  it('refuses element names that could pollute prototypes', () => {
    expect(() => parse(opportunity('<constructor>x</constructor>'))).toThrow(badRequest('INVALID_XML'));
  });

  it.each([
    ['another SOAP body', '<soapenv:Envelope xmlns:soapenv="x"><soapenv:Body/></soapenv:Envelope>', ['Envelope.Body']],
    ['no OrganizationId', outboundMessage('').replace(/<OrganizationId>.*<\/OrganizationId>/, ''), []],
    ['no Notification', outboundMessage(''), ['Envelope.Body.notifications.Notification']],
    [
      'a Notification without Id or sObject',
      outboundMessage('<Notification><Id/></Notification>'),
      ['Envelope.Body.notifications.Notification[0].Id', 'Envelope.Body.notifications.Notification[0].sObject'],
    ],
    [
      'an sObject without Id, second in the batch',
      outboundMessage(notification('<sf:Id>006A</sf:Id>') + notification('<sf:Name>x</sf:Name>')),
      ['Envelope.Body.notifications.Notification[1].sObject.Id'],
    ],
    [
      'a field with child elements',
      opportunity('<sf:Account><sf:Name>Acme</sf:Name></sf:Account>'),
      ['Envelope.Body.notifications.Notification[0].sObject.Account'],
    ],
    [
      'a repeated field',
      opportunity('<sf:Amount>1</sf:Amount><sf:Amount>2</sf:Amount>'),
      ['Envelope.Body.notifications.Notification[0].sObject.Amount'],
    ],
    [
      'a modstamp that is no time',
      opportunity('<sf:SystemModstamp>yesterday</sf:SystemModstamp>'),
      ['Envelope.Body.notifications.Notification[0].sObject.SystemModstamp'],
    ],
  ])('refuses %s, naming each element', (_, body, paths) => {
    expect(() => parse(body)).toThrow(badRequest('INVALID_EVENT', paths.map(issueAt)));
  });

  it('acknowledges notifications of other objects with nothing to record', () => {
    expect(parse(fixture('salesforce', 'account.xml'))).toEqual([]);
  });

  it('refuses an unknown pipeline in the URL', () => {
    expect(() => parse(fixture('salesforce', 'opportunity.xml'), { token, pipeline: 'nope' })).toThrow(
      badRequest('UNKNOWN_PIPELINE', [issueAt('query.pipeline')]),
    );
  });

  it('throws nothing but a BadRequestError for any body from the right org', () => {
    const xmlish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            '<',
            '>',
            '</',
            '/>',
            '<?xml version="1.0"?>',
            '<!DOCTYPE',
            '<![CDATA[',
            ']]>',
            '<!--',
            '-->',
            '&amp;',
            '&#39;',
            '&#xFFFFFF;',
            '&bogus;',
            'soapenv:Envelope',
            'soapenv:Body',
            'notifications',
            'Notification',
            'sObject',
            'sf:Id',
            'xsi:nil="true"',
            'xsi:type="sf:Opportunity"',
            '__proto__',
            '"',
            '=',
            ' ',
          ),
          fc.string({ maxLength: 5 }),
        ),
        { maxLength: 40 },
      )
      .map((tokens) => tokens.join(''));
    const element = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/);
    const escaped = fc.string().map((s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    const envelopes = fc
      .array(
        fc.record({
          id: escaped,
          fields: fc.array(fc.tuple(element, fc.oneof(escaped, fc.constant(null))), { maxLength: 6 }),
        }),
        { maxLength: 4 },
      )
      .map((notifications) =>
        outboundMessage(
          notifications
            .map(({ id, fields }) =>
              notification(
                fields
                  .map(([name, value]) =>
                    value === null ? `<sf:${name} xsi:nil="true"/>` : `<sf:${name}>${value}</sf:${name}>`,
                  )
                  .join(''),
                id,
              ),
            )
            .join(''),
        ),
      );
    fc.assert(
      fc.property(fc.oneof(fc.string(), xmlish, envelopes), (body) => {
        try {
          for (const event of parse(body)) expect(event.source).toBe('salesforce');
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
        }
      }),
    );
  });
});

describe('salesforce adapter: answers', () => {
  it('acknowledges with HTTP 200 (a SOAP response) and the SOAP notificationsResponse Ack', () => {
    const response = salesforceAdapter.respond([{ outcome: 'applied', dealId: '006A', stage: 'qualify', reasons: [] }]);
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['content-type']).toMatch(/^text\/xml/);
    expect(soapBody(response.body).notificationsResponse).toStrictEqual({
      '@_xmlns': 'http://soap.sforce.com/2005/09/outbound',
      Ack: 'true',
    });
  });

  it('refuses with a SOAP 1.1 client fault carrying the status, code, message and issues', () => {
    const error = new BadRequestError('INVALID_EVENT', 'fix <this> & "that"', [
      { path: 'Envelope.Body', message: 'expected notifications' },
    ]);
    const response = salesforceAdapter.respondError(error);
    expect(response.statusCode).toBe(400);
    expect(response.headers?.['content-type']).toMatch(/^text\/xml/);
    expect(soapBody(response.body)['soapenv:Fault']).toStrictEqual({
      faultcode: 'soapenv:Client',
      faultstring: 'fix <this> & "that"',
      detail: {
        error: {
          '@_xmlns': 'urn:stageflow:webhooks',
          code: 'INVALID_EVENT',
          issue: { '@_path': 'Envelope.Body', '#text': 'expected notifications' },
        },
      },
    });
    expect(salesforceAdapter.respondError(new UnauthorizedError('no')).statusCode).toBe(401);
  });
});
