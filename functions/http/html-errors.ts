import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { NotFoundError, RequestError } from '../core/errors.ts';
import { approvalErrorPages } from '../views/approval-pages.ts';
import { boardErrorPages } from '../views/board-pages.ts';
import { type ErrorPages, htmlResponse } from '../views/page.ts';
import type { HttpResult } from './responses.ts';

/**
 * Turns errors into HTML answers: a refusal keeps its status (400 for a bad request, 404 for an unknown thing) with a
 * page that says what to do; anything else is logged with its stack and answered 500 with `pages.failureAdvice`.
 */
export function htmlPageErrors(logger: Logger, pages: ErrorPages): MiddlewareObj<unknown, HttpResult> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof NotFoundError) {
        request.response = htmlResponse(404, pages.notFound(error));
      } else if (error instanceof RequestError) {
        request.response = htmlResponse(error.status, pages.problem('Request refused', error.message));
      } else {
        logger.error(pages.failureLog, error as Error);
        request.response = htmlResponse(500, pages.problem('Something went wrong', pages.failureAdvice));
      }
    },
  };
}

/** The approval pages' error answers. */
export const approvalErrors = (logger: Logger) => htmlPageErrors(logger, approvalErrorPages);

/** The board's error answers. */
export const boardErrors = (logger: Logger) => htmlPageErrors(logger, boardErrorPages);
