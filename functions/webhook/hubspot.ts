import { hubspotAdapter } from '../sources/hubspot.ts';
import { webhookHandler } from './webhook-handler.ts';

/** `POST /webhooks/hubspot`: HubSpot webhooks. */
export const handler = webhookHandler({ hubspot: hubspotAdapter });
