import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import * as z from 'zod/mini';
import { toDotPath } from 'zod/v4/core';
import { type Fields, MAX_ID_LENGTH, type StageEvent } from '../core/deal.ts';
import { BadRequestError, type ErrorIssue, type RequestError, UnauthorizedError } from '../core/errors.ts';
import { invalidEvent, issuesOf, pipelineFromQuery, sortByOccurredAt } from './body.ts';
import { configuredSecret, safeEqual } from './credentials.ts';
import { mapStage, renameFields } from './crm-maps.ts';
import { sameSalesforceId } from './salesforce-ids.ts';
import { MAX_KEY_LENGTH } from './storable-json.ts';
import type { ParsedEvent, SourceAdapter, WebhookResponse } from './types.ts';

const SOAP_ENVELOPE_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const OUTBOUND_NS = 'http://soap.sforce.com/2005/09/outbound';
const NOTIFICATIONS_PATH = ['Envelope', 'Body', 'notifications'];

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Field values are stored exactly as Salesforce wrote them: no number parsing, no trimming.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Decodes numeric character references (`&#39;`), which are XML built-ins; a DOCTYPE (the only way to define
  // further entities) is refused before parsing.
  htmlEntities: true,
  isArray: (_name, jPath) => jPath === [...NOTIFICATIONS_PATH, 'Notification'].join('.'),
});

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_' });

const text = z.string().check(z.trim(), z.minLength(1));
const isoDateTime = z.iso.datetime({ offset: true });

/**
 * Just enough of the envelope to find the sending org, which is checked before anything else is read, and the org's
 * API URLs, whose origin is its instance URL.
 */
const EnvelopeSchema = z.looseObject({
  Envelope: z.looseObject({
    Body: z.looseObject({
      notifications: z.looseObject({
        OrganizationId: text,
        EnterpriseUrl: z.optional(z.string()),
        PartnerUrl: z.optional(z.string()),
      }),
    }),
  }),
});

const NotificationsSchema = z.looseObject({
  Notification: z
    .array(
      z.looseObject({
        Id: text.check(
          z.maxLength(MAX_ID_LENGTH),
          z.describe('the notification id: a retried delivery carries the same one'),
        ),
        sObject: z.looseObject({
          Id: text.check(z.maxLength(MAX_ID_LENGTH), z.describe('the Opportunity id')),
          '@_type': z.optional(z.string()),
        }),
      }),
    )
    .check(z.minLength(1)),
});
type Notification = z.output<typeof NotificationsSchema>['Notification'][number];

/** sObject elements this source reads itself rather than storing them as fields. */
const NOT_FIELDS: ReadonlySet<string> = new Set(['Id', 'StageName', 'Name', 'RecordTypeId']);

/** When the change happened, in order of preference. */
const TIME_FIELDS = ['LastModifiedDate', 'SystemModstamp'] as const;

/**
 * The value of a leaf element: its text, `null` for `xsi:nil="true"`, or undefined when the element is not a leaf
 * (it has child elements, or it is repeated).
 */
function leafValue(node: unknown): string | null | undefined {
  if (typeof node === 'string') return node;
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
  const element = node as Record<string, unknown>;
  if (element['@_nil'] === 'true') return null;
  const hasChildren = Object.keys(element).some((key) => !key.startsWith('@_') && key !== '#text');
  if (hasChildren) return undefined;
  const content = element['#text'];
  return typeof content === 'string' ? content : '';
}

function readXml(rawBody: string): unknown {
  if (/<!DOCTYPE/i.test(rawBody)) {
    throw new BadRequestError(
      'DOCTYPE_NOT_ALLOWED',
      'the body declares a DOCTYPE, which Salesforce outbound messages never do — send the SOAP envelope alone',
      [{ path: '', message: 'DOCTYPE declarations are refused' }],
    );
  }
  const valid = XMLValidator.validate(rawBody);
  if (valid !== true) {
    throw new BadRequestError(
      'INVALID_XML',
      'the body is not well-formed XML — send the Salesforce outbound message SOAP envelope',
      [{ path: '', message: valid.err.msg, line: valid.err.line, column: valid.err.col }],
    );
  }
  try {
    return parser.parse(rawBody);
  } catch (error) {
    // The parser also refuses element names that could pollute prototypes (`__proto__`, `constructor`).
    throw new BadRequestError(
      'INVALID_XML',
      'the body is not a Salesforce outbound message — send the SOAP envelope Salesforce sends',
      [{ path: '', message: error instanceof Error ? error.message : String(error) }],
      { cause: error },
    );
  }
}

interface Delivery {
  /** When the message arrived: the time of a notification whose sObject carries no modification time. */
  receivedAt: Date;
  /** The org's instance URL (the origin of the message's API URLs), when it names one. */
  instanceUrl: string | undefined;
}

/** True for a notification of an Opportunity; other objects' notifications are acknowledged and not recorded. */
function isOpportunity(notification: Notification): boolean {
  const type = notification.sObject['@_type'];
  return type === undefined || /(^|:)Opportunity$/.test(type);
}

/** The origin of the org's API URL: the instance URL the deal page links to. */
function instanceUrlOf(urls: (string | undefined)[]): string | undefined {
  for (const url of urls) {
    if (url === undefined || !URL.canParse(url)) continue;
    const { protocol, origin } = new URL(url);
    if (protocol === 'https:' || protocol === 'http:') return origin;
  }
  return undefined;
}

/** One notification: read now (so a malformed one refuses the delivery), mapped once it is routed. */
function toParsed(notification: Notification, index: number, delivery: Delivery): ParsedEvent {
  const { event, recordType } = readNotification(notification, index, delivery);
  return {
    kind: 'event',
    eventId: event.eventId,
    dealId: event.dealId,
    occurredAt: event.occurredAt,
    route: recordType ? { crmPipeline: recordType } : {},
    toStageEvent: (pipeline, config) => {
      const crm = config.crm.salesforce;
      const routed: StageEvent = { ...event, pipeline, fields: renameFields(event.fields, crm?.fields) };
      if (event.stage) routed.stage = mapStage('salesforce', crm?.stages, event.stage);
      return routed;
    },
  };
}

/** The notification as an event with its raw fields and its raw `StageName` as `stage`, and its record type. */
function readNotification(
  notification: Notification,
  index: number,
  delivery: Delivery,
): { event: StageEvent; recordType: string | undefined } {
  const { sObject } = notification;
  const path = [...NOTIFICATIONS_PATH, 'Notification', index, 'sObject'];
  const issues: ErrorIssue[] = [];
  const values = new Map<string, string | null>();
  for (const [name, node] of Object.entries(sObject)) {
    if (name.startsWith('@_') || name === '#text') continue;
    if (name.length > MAX_KEY_LENGTH) {
      issues.push({
        path: toDotPath([...path, `${name.slice(0, 32)}…`]),
        message: `a field name of at most ${MAX_KEY_LENGTH} characters`,
      });
      continue;
    }
    const value = leafValue(node);
    if (value === undefined) issues.push({ path: toDotPath([...path, name]), message: 'expected one value' });
    else values.set(name, value);
  }
  const timeField = TIME_FIELDS.find((name) => typeof values.get(name) === 'string');
  const time = timeField ? values.get(timeField) : undefined;
  if (timeField && !isoDateTime.safeParse(time).success) {
    issues.push({ path: toDotPath([...path, timeField]), message: 'expected an ISO date-time' });
  }
  if (issues.length > 0) {
    throw invalidEvent("a notification's sObject is malformed — fix the elements listed in issues", issues);
  }
  const fields: Fields = Object.fromEntries([...values].filter(([name]) => !NOT_FIELDS.has(name)));
  const event: StageEvent = {
    source: 'salesforce',
    eventId: notification.Id,
    pipeline: '',
    dealId: sObject.Id,
    occurredAt: new Date(time ?? delivery.receivedAt).toISOString(),
    fields,
  };
  if (delivery.instanceUrl) event.crm = { instanceUrl: delivery.instanceUrl };
  // Salesforce's marker of who made the change: the user who last modified the record (an integration user's id).
  const modifiedBy = values.get('LastModifiedById');
  if (typeof modifiedBy === 'string' && modifiedBy !== '') event.origin = modifiedBy.slice(0, 64);
  const stageName = values.get('StageName');
  if (stageName) event.stage = stageName;
  const name = values.get('Name');
  if (name) event.dealName = name;
  return { event, recordType: values.get('RecordTypeId') ?? undefined };
}

function xmlResponse(statusCode: number, body: Record<string, unknown>): WebhookResponse {
  return {
    statusCode,
    headers: { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'no-store' },
    body: builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, ...body }),
  };
}

function soapEnvelope(body: Record<string, unknown>): Record<string, unknown> {
  return { 'soapenv:Envelope': { '@_xmlns:soapenv': SOAP_ENVELOPE_NS, 'soapenv:Body': body } };
}

/** The SOAP 1.1 fault Salesforce logs for a refused delivery; `detail` carries the error's code and issues. */
function soapFault(error: RequestError): WebhookResponse {
  return xmlResponse(
    error.status,
    soapEnvelope({
      'soapenv:Fault': {
        faultcode: 'soapenv:Client',
        faultstring: error.message,
        detail: {
          error: {
            '@_xmlns': 'urn:stageflow:webhooks',
            code: error.code,
            issue: error.issues.map((issue) => ({ '@_path': issue.path, '#text': issue.message })),
          },
        },
      },
    }),
  );
}

/**
 * `POST /webhooks/salesforce?token=<SALESFORCE_WEBHOOK_TOKEN>[&pipeline=<id>]`: a Salesforce outbound
 * message (SOAP 1.1) with one or more Opportunity notifications, acknowledged with the SOAP `Ack` once all are recorded.
 * The status is `200`, as every SOAP 1.1 response (WS-I Basic Profile) and every reference listener answers; a `202`
 * would tell some clients there is no body to read.
 */
export const salesforceAdapter: SourceAdapter = {
  source: 'salesforce',
  contentTypes: ['text/xml'],

  authenticate(req, ctx) {
    const expected = configuredSecret(ctx.secrets.salesforceWebhookToken, 'SALESFORCE_WEBHOOK_TOKEN');
    const token = req.query.token;
    if (!token) {
      throw new UnauthorizedError(
        "the token query parameter is missing — set the outbound message's endpoint URL to " +
          '<PUBLIC_BASE_URL>/webhooks/salesforce?token=<SALESFORCE_WEBHOOK_TOKEN>',
      );
    }
    if (!safeEqual(token, expected)) {
      throw new UnauthorizedError(
        "the token query parameter is wrong — use SALESFORCE_WEBHOOK_TOKEN in the outbound message's endpoint URL",
      );
    }
  },

  parse(req, ctx) {
    const document = readXml(req.rawBody);
    const envelope = EnvelopeSchema.safeParse(document);
    if (!envelope.success) {
      throw invalidEvent(
        'the body is not a Salesforce outbound message — send the SOAP envelope with notifications/OrganizationId',
        issuesOf(envelope.error),
      );
    }
    const notifications = envelope.data.Envelope.Body.notifications;
    const orgId = configuredSecret(ctx.secrets.salesforceOrgId, 'SALESFORCE_ORG_ID');
    if (!sameSalesforceId(notifications.OrganizationId, orgId)) {
      throw new UnauthorizedError(
        "the message's OrganizationId is not this server's SALESFORCE_ORG_ID — send outbound messages from the " +
          'configured org, or set SALESFORCE_ORG_ID to its org id (15 or 18 characters, from Setup › Company Information)',
      );
    }
    pipelineFromQuery(req, ctx);
    const parsed = NotificationsSchema.safeParse(notifications);
    if (!parsed.success) {
      throw invalidEvent(
        'the outbound message has no valid Notification — each needs an Id and an sObject with an Id',
        issuesOf(parsed.error, NOTIFICATIONS_PATH),
      );
    }
    const delivery = {
      receivedAt: req.receivedAt,
      instanceUrl: instanceUrlOf([notifications.EnterpriseUrl, notifications.PartnerUrl]),
    };
    return sortByOccurredAt(
      parsed.data.Notification.flatMap((notification, index) =>
        isOpportunity(notification) ? [toParsed(notification, index, delivery)] : [],
      ),
    );
  },

  respond() {
    return xmlResponse(200, soapEnvelope({ notificationsResponse: { '@_xmlns': OUTBOUND_NS, Ack: 'true' } }));
  },

  respondError: soapFault,
};
