import { pipedriveAdapter } from '../sources/pipedrive.ts';
import { webhookHandler } from './webhook-handler.ts';

/** `POST /webhooks/pipedrive`: Pipedrive webhooks. */
export const handler = webhookHandler({ pipedrive: pipedriveAdapter });
