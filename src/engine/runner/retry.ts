/**
 * Store calls retried through transient failures, for the jobs on the runner (backfill, verify,
 * rollback, catch-up).
 *
 * Rules:
 * - retried: a StoreError, an SQLite error, or anything flagged `throttled` (the adapters' way of
 *   saying "slow down"), unless `isFatal` says retrying cannot fix it;
 * - never retried: a scan cursor that lost its meaning (`CursorInvalidatedError`): the same call
 *   would fail the same way; the runner walks that partition again from its beginning; nor a
 *   DocumentTooLargeError (the same document is as large the next time); nor a StoreFullError
 *   (a full disk does not make room by itself: the job stops and says so);
 * - never retried either: a permanent error (store-errors.ts isPermanent: a document that cannot
 *   be read, a damaged SQLite file, SQLITE_CORRUPT / SQLITE_NOTADB). A damaged file is thrown as
 *   a StoreError that says so and what to do, at once (it was retried for 43 s before);
 * - each failure is reported to the throttle (`observe(0, 'throttled' | 'error')`), so the
 *   adaptive back-off slows the whole job down, and to `onRetry` — except a server that is down
 *   (`outage`: refused or reset connections, a Redis loading its data). That is no sign of load:
 *   the job waits for the server and goes on at its rate when it is back (a slow server then
 *   shows as latency spikes). Each retry of each lane used to halve the speed, so a 5-second
 *   restart of DynamoDB Local left a backfill at 2% of its rate for over a minute. A timeout
 *   still slows down: an overloaded server times out too;
 * - the delay is exponential from 50 ms, capped at 10 s, with jitter (0.5x to 1x); after
 *   MAX_STORE_RETRIES consecutive failures of one call the last error is thrown.
 */
import { StoreError } from '../../core/errors.js';
import {
  damagedSqlite,
  DocumentTooLargeError,
  isCursorInvalidated,
  isPermanent,
  isUnreachable,
  StoreFullError,
  isThrottled,
} from '../../store/store-errors.js';
import { sleep } from './throttle.js';

export const MAX_STORE_RETRIES = 12;

export interface RetryOptions {
  throttle: { observe(latencyMs: number, outcome: 'ok' | 'error' | 'throttled'): void };
  onRetry: (info: { error: string; attempt: number; delayMs: number }) => void;
  /** an error retrying cannot fix, thrown at once */
  isFatal?: (err: unknown) => boolean;
}

export async function retryStoreCall<T>(
  what: string,
  fn: () => Promise<T>,
  o: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const transient =
        (err instanceof StoreError || (err as Error)?.name === 'SqliteError' || isThrottled(err)) &&
        !isCursorInvalidated(err) &&
        !(err instanceof DocumentTooLargeError) &&
        !(err instanceof StoreFullError);
      const damaged = damagedSqlite(err);
      if (damaged !== undefined)
        throw new StoreError(
          `${what}: the SQLite database file is damaged (${damaged}: ${(err as Error).message}); retrying cannot help. Restore it from a backup (or try the sqlite3 shell's .recover) and run the command again`,
          { cause: err },
        );
      if (
        !transient ||
        isPermanent(err) ||
        o.isFatal?.(err) === true ||
        attempt > MAX_STORE_RETRIES
      )
        throw err;
      if (!outage(err)) o.throttle.observe(0, isThrottled(err) ? 'throttled' : 'error');
      const delayMs = Math.min(10_000, 50 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      o.onRetry({
        error: `${what}: ${(err as Error).message}`,
        attempt,
        delayMs: Math.round(delayMs),
      });
      await sleep(delayMs);
    }
  }
}

/**
 * A store call after a run ended (its bookkeeping: marking the plan finished, clearing partitions,
 * dropping the journal), retried by the same rules; nothing to throttle. The call must be safe to
 * make again (a write that applied although its acknowledgement was lost).
 */
export function retryAfterRun<T>(what: string, fn: () => Promise<T>): Promise<T> {
  return retryStoreCall(what, fn, {
    throttle: { observe: () => undefined },
    onRetry: () => undefined,
  });
}

/** The server is down (not merely slow): unreachable, and not by a timeout. */
export function outage(err: unknown): boolean {
  return isUnreachable(err) && !/\btimed out\b|ETIMEDOUT/i.test((err as Error).message ?? '');
}
