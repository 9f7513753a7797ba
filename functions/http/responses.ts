import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { RequestError } from '../core/errors.ts';

export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number };

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

/** The error body every refusal answers with: `{"error": {"code", "message", "issues"}}`. */
export function jsonError(error: RequestError): HttpResult {
  return json(error.status, { error: { code: error.code, message: error.message, issues: error.issues } });
}

/** Any failure that is not the caller's mistake: a 500 with a code and a sentence, never the error itself. */
export function internalError(): HttpResult {
  return json(500, {
    error: { code: 'INTERNAL', message: 'Internal error — the request was not recorded; retry it.' },
  });
}

/** The request body as the sender sent it (API Gateway base64-encodes non-text bodies). */
export function rawBody(event: APIGatewayProxyEventV2): string {
  if (!event.body) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}
