import { ENV, requireEnv } from '../functions/adapters/environment.ts';
import { hubspotSignatureHeaders } from '../functions/sources/hubspot.ts';

/**
 * One delivery of each CRM, as that CRM sends it: a field change of one deal of the CRM pipeline the default
 * pipeline manages. The cold starts of the CRM webhook functions invoke these, once a delivery has created the deal.
 */

export type CrmSource = 'hubspot' | 'pipedrive' | 'salesforce';

export interface Delivery {
  path: string;
  init: RequestInit;
}

const HUBSPOT_PORTAL = 62515;

/** A HubSpot webhooks v3 batch of one `deal.propertyChange`, signed as HubSpot signs it. */
function hubspotDelivery(dealId: string, eventId: number, property: string, value: string) {
  const body = JSON.stringify([
    {
      eventId,
      subscriptionId: 1,
      portalId: HUBSPOT_PORTAL,
      occurredAt: Date.now(),
      subscriptionType: 'deal.propertyChange',
      attemptNumber: 0,
      objectId: Number(dealId),
      propertyName: property,
      propertyValue: value,
      changeSource: 'CRM_UI',
    },
  ]);
  const signed = hubspotSignatureHeaders(
    requireEnv('HUBSPOT_CLIENT_SECRET'),
    `${requireEnv(ENV.publicBaseUrl).replace(/\/+$/, '')}/webhooks/hubspot`,
    body,
  );
  return {
    path: '/webhooks/hubspot',
    init: { method: 'POST', headers: { 'content-type': 'application/json', ...signed }, body },
  };
}

/** A Pipedrive webhooks v2 `change` of a deal of pipeline 1, with HTTP Basic credentials. */
function pipedriveDelivery(dealId: string, eventId: string, fields: Record<string, unknown>) {
  const body = JSON.stringify({
    meta: {
      action: 'change',
      entity: 'deal',
      entity_id: dealId,
      id: eventId,
      timestamp: new Date().toISOString(),
      version: '2.0',
    },
    data: { id: Number(dealId), pipeline_id: 1, stage_id: 1, status: 'open', title: 'Cold start probe', ...fields },
    previous: {},
  });
  const authorization = `Basic ${Buffer.from(requireEnv('PIPEDRIVE_BASIC_AUTH')).toString('base64')}`;
  return {
    path: '/webhooks/pipedrive',
    init: { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body },
  };
}

/** A Salesforce outbound message of one Opportunity notification, to the endpoint URL with its token. */
function salesforceDelivery(dealId: string, eventId: string, field: string, value: string) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>${requireEnv('SALESFORCE_ORG_ID')}</OrganizationId>
   <ActionId>04k5A000000CaSbQAK</ActionId>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/60.0/00D000000000062</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/60.0/00D000000000062</PartnerUrl>
   <Notification>
    <Id>${eventId}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>${dealId}</sf:Id>
     <sf:LastModifiedDate>${new Date().toISOString()}</sf:LastModifiedDate>
     <sf:Name>Cold start probe</sf:Name>
     <sf:StageName>Identify</sf:StageName>
     <sf:${field}>${value}</sf:${field}>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`;
  const token = encodeURIComponent(requireEnv('SALESFORCE_WEBHOOK_TOKEN'));
  return {
    path: `/webhooks/salesforce?token=${token}`,
    init: { method: 'POST', headers: { 'content-type': 'text/xml' }, body },
  };
}

/** Deal ids as each CRM writes them. */
function crmDealId(source: CrmSource, id: string): string {
  const digits = String(Number.parseInt(id, 36) % 1e9);
  if (source === 'salesforce') return `006${digits.padStart(12, '0')}`;
  return digits;
}

/**
 * The deliveries of one CRM for the cold starts: `create` makes the deal (sent through the stack first), `probe(n)`
 * is the n-th field change of it.
 */
export function crmProbes(source: CrmSource, id: string) {
  const dealId = crmDealId(source, id);
  const delivery = (n: number): Delivery => {
    const eventId = `${id}-${source}-${n}`;
    switch (source) {
      case 'hubspot':
        return hubspotDelivery(dealId, Number(dealId) * 100 + n, 'coldStartProbe', String(n));
      case 'pipedrive':
        return pipedriveDelivery(dealId, eventId, { coldStartProbe: n });
      case 'salesforce':
        return salesforceDelivery(dealId, `04l${eventId}`, 'Cold_Start_Probe__c', String(n));
    }
  };
  return { dealId, create: () => delivery(0), probe: delivery };
}
