import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { htmlResponse } from '../core/approval-pages.ts';
import { boardProblemPage } from '../core/board-pages.ts';
import { NotFoundError, RequestError } from '../core/errors.ts';
import type { HttpResult } from '../http/responses.ts';

/**
 * The board's error answers: a person in a browser gets an HTML page that says what is wrong and what to do, never
 * JSON or a stack trace. A refusal keeps its status (400 for a bad filter, 404 for an unknown deal or pipeline).
 */
export function boardErrors(logger: Logger): MiddlewareObj<unknown, HttpResult> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof NotFoundError) {
        request.response = htmlResponse(404, boardProblemPage('Not found', error.message));
      } else if (error instanceof RequestError) {
        request.response = htmlResponse(error.status, boardProblemPage('Request refused', error.message));
      } else {
        logger.error('board request failed', error as Error);
        request.response = htmlResponse(
          500,
          boardProblemPage('Something went wrong', 'The page could not be shown. Reload it in a minute.'),
        );
      }
    },
  };
}
