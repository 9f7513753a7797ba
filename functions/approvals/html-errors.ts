import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { htmlResponse, notFoundPage, problemPage } from '../core/approval-pages.ts';
import { NotFoundError, RequestError } from '../core/errors.ts';
import type { HttpResult } from '../http/responses.ts';

/**
 * The approval pages' error answers: a person in a browser gets an HTML page with a sentence saying what to do, never
 * JSON or a stack trace. A 404 says nothing about why, so a guessed link learns nothing.
 */
export function htmlErrors(logger: Logger): MiddlewareObj<unknown, HttpResult> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof NotFoundError) {
        request.response = htmlResponse(404, notFoundPage());
      } else if (error instanceof RequestError) {
        request.response = htmlResponse(error.status, problemPage('Request refused', error.message));
      } else {
        logger.error('approval request failed', error as Error);
        request.response = htmlResponse(
          500,
          problemPage(
            'Something went wrong',
            'The page could not be completed. Open the link from your email again in a minute: it shows whether a ' +
              'decision was recorded, and lets you decide if none was.',
          ),
        );
      }
    },
  };
}
