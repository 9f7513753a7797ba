import { salesforceAdapter } from '../sources/salesforce.ts';
import { webhookHandler } from './webhook-handler.ts';

/** `POST /webhooks/salesforce?token=…`: Salesforce outbound messages. */
export const handler = webhookHandler({ salesforce: salesforceAdapter });
