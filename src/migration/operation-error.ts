import { SwitchyardError, type SwitchyardErrorOptions } from '../core/errors.js';

/** Details of an {@link OperationError}. */
export interface OperationErrorDetails extends SwitchyardErrorOptions {
  /** The concrete location in the document, e.g. `emails[2].address`. */
  where?: string;
}

/**
 * An operation cannot apply to one document (a value of the wrong type, a target field that
 * already exists, a user function that threw — then the original error is the `cause`). The
 * backfill sends the document to dead letters with this error; other documents carry on.
 */
export class OperationError extends SwitchyardError {
  override readonly code: string = 'E_OPERATION';
  /** The operation, as `describe()` gives it. */
  readonly operation: string;
  readonly where: string | undefined;
  /** The problem itself, without the operation and location prefix. */
  readonly detail: string;
  constructor(operation: string, message: string, details: OperationErrorDetails = {}) {
    const at = details.where !== undefined ? `at '${details.where}': ` : '';
    super(
      `${operation}: ${at}${message}`,
      details.cause !== undefined ? { cause: details.cause } : undefined,
    );
    this.operation = operation;
    this.where = details.where;
    this.detail = message;
  }
}

/**
 * An operation with `{ onInvalid: 'skip' }` met a value it cannot convert: the document is to be
 * left as it is (see on-invalid.ts). Still an OperationError — whoever does not know about
 * skipping treats it as a refusal — with the refusal as `cause`.
 */
export class SkippedDocumentError extends OperationError {
  override readonly code: string = 'E_SKIPPED';
  constructor(refusal: OperationError) {
    super(refusal.operation, refusal.detail, {
      ...(refusal.where !== undefined ? { where: refusal.where } : {}),
      cause: refusal,
    });
  }
}

/**
 * true when `err` (or what it wraps: up() turns an operation's error into a TransformError with
 * it as `cause`) is a {@link SkippedDocumentError}: the document is to be left as it is.
 */
export function isSkippedDocument(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++)
    if (e instanceof SkippedDocumentError) return true;
  return false;
}
