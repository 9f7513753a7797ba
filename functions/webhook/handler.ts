import { genericAdapter } from '../sources/generic.ts';
import { webhookHandler } from './webhook-handler.ts';

/** `POST /webhooks/generic`, and `POST /webhooks/{source}` for any source no other route serves (answered 404). */
export const handler = webhookHandler({ generic: genericAdapter });
