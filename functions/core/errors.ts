import type { Approval } from './deal.ts';

/**
 * Named errors. Each refusal a user can cause carries an HTTP status, a stable code and a sentence that says
 * how to fix it; nothing else (no stack trace) ever reaches the user.
 */

export interface ErrorIssue {
  /** Where the problem is: a field path such as `stages[3].exitApprovals[0].role` or `fields.amount`. */
  path: string;
  message: string;
  /** The file the problem is in, when issues of several files are reported together. */
  file?: string;
  /** 1-based line and column in the source file, when the problem is in a file. */
  line?: number;
  column?: number;
}

/** Base class of every refusal caused by the request itself; the edge turns it into an HTTP answer. */
export abstract class RequestError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  readonly issues: ErrorIssue[];

  constructor(message: string, issues: ErrorIssue[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.issues = issues;
  }
}

export class BadRequestError extends RequestError {
  readonly status = 400;
  readonly code: string;
  constructor(code: string, message: string, issues: ErrorIssue[] = [], options?: ErrorOptions) {
    super(message, issues, options);
    this.code = code;
  }
}

export class UnauthorizedError extends RequestError {
  readonly status = 401;
  readonly code = 'UNAUTHORIZED';
}

export class NotFoundError extends RequestError {
  readonly status = 404;
  readonly code = 'NOT_FOUND';
}

export class PayloadTooLargeError extends RequestError {
  readonly status = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** DynamoDB's limit on one item, attribute names and values together. */
export const STORE_ITEM_LIMIT = '400 KB';

/**
 * A change that would grow a deal's stored item past the store's item size limit: it can never be stored, so it is
 * refused (nothing of it is kept) instead of failing on every retry.
 */
export class DealTooLargeError extends RequestError {
  readonly status = 413;
  readonly code = 'DEAL_TOO_LARGE';
  constructor(pipeline: string, dealId: string, options?: ErrorOptions) {
    super(
      `this change would grow deal ${dealId} (pipeline ${pipeline}) past DynamoDB's item size limit of ` +
        `${STORE_ITEM_LIMIT}, so it can never be stored and nothing of it was kept — send fewer or shorter fields ` +
        '(a field set to null is removed)',
      [],
      options,
    );
  }
}

export class UnsupportedMediaTypeError extends RequestError {
  readonly status = 415;
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
}

/** An optimistic-lock conflict: someone else changed the deal first; re-read and decide again. */
export class ConcurrentUpdateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConcurrentUpdateError';
  }
}

/** The stage config is invalid; `issues` locate every error in the file. */
export class InvalidConfigError extends Error {
  readonly issues: ErrorIssue[];
  constructor(message: string, issues: ErrorIssue[], options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidConfigError';
    this.issues = issues;
  }
}

/** An approval was decided or expired that is not pending; callers check the status first, so this is a bug guard. */
export class ApprovalNotPendingError extends Error {
  readonly approvalId: string;
  /** The approval as stored, or null when the deal has no approval with that id. */
  readonly approval: Approval | null;
  constructor(approvalId: string, approval: Approval | null) {
    super(
      approval === null
        ? `the deal has no approval '${approvalId}'`
        : `approval '${approvalId}' is ${approval.status}, not pending`,
    );
    this.name = 'ApprovalNotPendingError';
    this.approvalId = approvalId;
    this.approval = approval;
  }
}
