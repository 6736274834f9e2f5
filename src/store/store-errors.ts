/**
 * Store failures that callers react to differently from a plain StoreError (core/errors.ts):
 * - `StoreThrottledError`: the store refused work for now (DynamoDB throughput, throttling).
 *   It carries `throttled: true`, so an adaptive back-off can slow down and try again instead of
 *   failing the job. Nothing of the refused request was applied unless the message says so.
 * - `DocumentTooLargeError`: one document cannot be stored at all (DynamoDB's 400 KB item
 *   limit). Raised before anything of the batch is written.
 * - `CursorInvalidatedError`: a saved scan cursor no longer means anything (a Redis SCAN cursor
 *   after the server restarted or failed over). Nothing was read; the caller must walk that
 *   range again from its beginning (null cursor) and discard what it counted for the range.
 */
import { StoreError, type SwitchyardErrorOptions } from '../core/errors.js';

export class StoreThrottledError extends StoreError {
  override readonly code = 'E_STORE_THROTTLED';
  readonly throttled = true as const;
}

export class DocumentTooLargeError extends StoreError {
  override readonly code = 'E_STORE_DOC_TOO_LARGE';
  constructor(
    message: string,
    readonly key: string,
    readonly bytes: number,
    readonly maxBytes: number,
    options?: SwitchyardErrorOptions,
  ) {
    super(message, options);
  }
}

export class CursorInvalidatedError extends StoreError {
  override readonly code = 'E_STORE_CURSOR_INVALIDATED';
  readonly cursorInvalidated = true as const;
}

/** True for errors that mean a range's walk must restart from its beginning. */
export function isCursorInvalidated(err: unknown): boolean {
  return (
    err !== null &&
    typeof err === 'object' &&
    (err as { cursorInvalidated?: unknown }).cursorInvalidated === true
  );
}

/** True for errors an adaptive back-off should react to (see StoreThrottledError). */
export function isThrottled(err: unknown): boolean {
  return (
    err !== null && typeof err === 'object' && (err as { throttled?: unknown }).throttled === true
  );
}
