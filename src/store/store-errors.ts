/**
 * Store failures that callers react to differently from a plain StoreError (core/errors.ts):
 * - `StoreThrottledError`: the store refused work for now (DynamoDB throughput, throttling).
 *   It carries `throttled: true`, so an adaptive back-off can slow down and try again instead of
 *   failing the job. Nothing of the refused request was applied unless the message says so.
 * - `DocumentTooLargeError`: one document cannot be stored at all (DynamoDB's 400 KB item
 *   limit). Raised before anything of the batch is written.
 * - `ChangePositionError`: a change-feed position the feed cannot continue from (pruned,
 *   trimmed, from a reset or replaced feed, or not a position). Retrying cannot help: catch-up
 *   stops, and must be started again (with a backfill) from now.
 * - `StoreUnreachableError`: opening the store found nothing to talk to (wrong host or port, a
 *   region without the service, refused credentials). Bad input (exit 2): nothing was done.
 * - `CursorInvalidatedError`: a saved scan cursor no longer means anything (a Redis SCAN cursor
 *   after the server restarted or failed over). Nothing was read; the caller must walk that
 *   range again from its beginning (null cursor) and discard what it counted for the range.
 * - `StoreUnreachableError`: the server cannot be reached now (connection refused or lost, the
 *   server loading its data after a restart). It carries `unreachable: true`: waiting and trying
 *   again may succeed, and a long job should say that it waits rather than fail at once.
 * - `UnreadableDocumentError`: one stored document cannot be read as a document (an SQLite row
 *   whose text is not JSON, a Redis value that is not JSON or is a JSON array). Permanent: the
 *   same read fails the same way. `scan` reports such documents in `ScanPage.unreadable` and goes
 *   on; `get` and `getMany` throw this, naming the key.
 * - `StoreFullError`: the store has no room left for the write (SQLite on a full disk). Nothing of
 *   the write was applied (its transaction rolled back). Not retried: waiting does not make
 *   room; the job stops with a message naming the database and saying to free space and run again.
 * - `WriteGuardError`: an atomic write's guard (Store.writeAtomic) no longer holds: its document
 *   changed. Nothing of the write was applied. Not a StoreError: retrying the same write cannot
 *   succeed (the runner turns it into LeaseLostError: another worker took the lease over).
 * - `StoreAuthError`: the server refused the credentials of the store URL. Waiting does not
 *   help. Exit code 3 like any store failure, not 2: the URL may be right and the server's
 *   password changed under a running job, and a job that fails that way must still raise its
 *   job-failed alert (bad input, exit 2, raises none).
 */
import { InputError, StoreError, type SwitchyardErrorOptions } from '../core/errors.js';
import type { Rev, WriteGuard } from './contract.js';

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

export class ChangePositionError extends StoreError {
  override readonly code = 'E_CHANGE_POSITION';
}

/** A store that cannot be reached when it is opened (wrong endpoint or region): bad input. */
export class StoreEndpointError extends InputError {
  override readonly code = 'E_STORE_ENDPOINT';
  constructor(message: string, options?: SwitchyardErrorOptions) {
    super(message, { field: 'store' }, options);
  }
}

export class CursorInvalidatedError extends StoreError {
  override readonly code = 'E_STORE_CURSOR_INVALIDATED';
  readonly cursorInvalidated = true as const;
}

export class StoreUnreachableError extends StoreError {
  override readonly code = 'E_STORE_UNREACHABLE';
  readonly unreachable = true as const;
}

export class StoreFullError extends StoreError {
  override readonly code = 'E_STORE_FULL';
}

export class WriteGuardError extends Error {
  readonly code = 'E_WRITE_GUARD';
  constructor(
    readonly guard: WriteGuard,
    readonly currentRev: Rev | null,
  ) {
    super(`the guard of an atomic write failed: ${guard.collection}/${guard.key} changed`);
  }
}

export class StoreAuthError extends StoreError {
  override readonly code = 'E_STORE_AUTH';
}

/** True for errors that say the store cannot be reached now (see StoreUnreachableError). */
export function isUnreachable(err: unknown): boolean {
  return (
    err !== null &&
    typeof err === 'object' &&
    (err as { unreachable?: unknown }).unreachable === true
  );
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

export class UnreadableDocumentError extends StoreError {
  override readonly code = 'E_STORE_UNREADABLE';
  readonly permanent = true as const;
  constructor(
    readonly key: string,
    readonly reason: string,
    where: string,
    options?: SwitchyardErrorOptions,
  ) {
    super(`${where}: the document '${key}' cannot be read: ${reason}`, options);
  }
}

/** SQLite result codes of a damaged database file: no retry can help (restore it). */
const SQLITE_DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * True for errors that retrying cannot fix: a document that cannot be read, a damaged SQLite
 * file (SQLITE_CORRUPT, SQLITE_NOTADB; the error or its cause).
 */
export function isPermanent(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  if ((err as { permanent?: unknown }).permanent === true) return true;
  return damagedSqlite(err) !== undefined;
}

/** The SQLite code of a damaged-file error (the error or its cause), or undefined. */
export function damagedSqlite(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && SQLITE_DAMAGED.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
