import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { RequestError } from '../core/errors.ts';
import { type HttpResult, internalError, jsonError } from './responses.ts';

/**
 * Turns errors into HTTP answers: a refusal the caller caused becomes its status with a code and a sentence; anything
 * else is logged with its stack and answered 500 with neither.
 */
export function httpErrors(logger: Logger): MiddlewareObj<unknown, HttpResult> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof RequestError) {
        request.response = jsonError(error);
        return;
      }
      logger.error('request failed', error as Error);
      request.response = internalError();
    },
  };
}
