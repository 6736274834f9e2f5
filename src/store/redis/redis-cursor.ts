/**
 * The Redis adapters' scan cursors: where a scan stands, as a JSON string a checkpoint can keep.
 *
 *   {"r": "<run id>", "c": "<SCAN cursor>" | null, "p": ["<key>", ...]}
 *
 * - `r`: the run id of the server process whose SCAN handed out `c` (redis-layout.ts
 *   SERVER_RUN). Every call that continues the cursor sends it, and a server with another run id
 *   (restarted, failed over) refuses to continue: the scan throws CursorInvalidatedError and the
 *   caller walks the range again from its beginning.
 * - `c`: the SCAN cursor to call next; null once SCAN has finished.
 * - `p`: keys SCAN already returned that did not fit in the previous page (at most about one
 *   SCAN reply); read first on the next page. Omitted when empty.
 *
 * A cursor of an earlier version (a bare SCAN cursor, or JSON without `r`) cannot be checked
 * against the server, so it is refused the same way as a stale one: the walk starts again,
 * which costs one pass and loses nothing. Anything else is not a cursor (a StoreError).
 */
import { StoreError } from '../../core/errors.js';
import { CursorInvalidatedError } from '../store-errors.js';

export interface ScanState {
  /** the run id of the server the walk belongs to; null: a walk that has not called SCAN yet */
  readonly run: string | null;
  /** the SCAN cursor to call next ('0' to start); null when SCAN has finished */
  readonly next: string | null;
  /** keys SCAN returned that the previous page had no room for */
  readonly pending: readonly string[];
}

export const START: ScanState = { run: null, next: '0', pending: [] };

/** The state of `cursor` (the start for null). `where` names the scan in messages. */
export function decodeCursor(cursor: string | null | undefined, where: string): ScanState {
  if (cursor == null) return START;
  if (/^\d+$/.test(cursor)) throw legacyCursor(where);
  let s: { r?: unknown; c?: unknown; p?: unknown } | null;
  try {
    s = JSON.parse(cursor) as typeof s;
  } catch {
    throw notACursor(cursor);
  }
  if (s === null || typeof s !== 'object') throw notACursor(cursor);
  const pending = s.p === undefined ? [] : s.p;
  if (
    !(s.c === null || (typeof s.c === 'string' && /^\d+$/.test(s.c))) ||
    !Array.isArray(pending) ||
    !pending.every((k) => typeof k === 'string')
  ) {
    throw notACursor(cursor);
  }
  if (s.r === undefined) throw legacyCursor(where);
  if (typeof s.r !== 'string' || !/^[0-9a-f]{1,64}$/.test(s.r)) throw notACursor(cursor);
  return { run: s.r, next: s.c, pending: pending as string[] };
}

/** The cursor of a state; null when the walk is over (SCAN finished, nothing pending). */
export function encodeCursor(state: ScanState): string | null {
  if (state.next === null && state.pending.length === 0) return null;
  return JSON.stringify(
    state.pending.length === 0
      ? { r: state.run, c: state.next }
      : { r: state.run, c: state.next, p: state.pending },
  );
}

/**
 * The error for a walk whose server is no longer the process that handed out its cursor.
 * `where` says what was walked ("scan of 'users' (range 2/4)", "count of 'users'") and where.
 */
export function serverRestarted(where: string, was: string, now: string): CursorInvalidatedError {
  return new CursorInvalidatedError(
    `${where}: the server restarted or failed over since this walk began (run id ${short(was)} then, ${short(now)} now); its SCAN cursor means nothing there, so the walk must start again from its beginning`,
  );
}

function legacyCursor(where: string): CursorInvalidatedError {
  return new CursorInvalidatedError(
    `${where}: the cursor was saved without the server's run id (by an earlier version), so it cannot be checked against the server; the walk must start again from its beginning`,
  );
}

function notACursor(cursor: string): StoreError {
  return new StoreError(`not a Redis scan cursor: ${cursor.slice(0, 80)}`);
}

function short(run: string): string {
  return run.slice(0, 8);
}
