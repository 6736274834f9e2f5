/**
 * Store calls of the CLI's one-shot commands (export, count) that wait through a store outage
 * instead of failing at once. A call that fails because the store is unreachable (a server
 * restarting or failing over) or throttling is tried again with the long jobs' back-off
 * (engine/retry.ts: exponential from 50 ms, capped at 10 s, MAX_STORE_RETRIES times, about 40 s
 * in all), and each wait is said on stderr, unless --quiet:
 *
 *   switchyard export: redis scan of 'users' in redis://… failed: the server is unreachable
 *   (connect ECONNREFUSED …); it may be restarting or failing over — waiting 180 ms, then trying
 *   again (attempt 3 of 12)
 *
 * Any other failure is thrown at once.
 */
import { MAX_STORE_RETRIES, retryStoreCall } from '../engine/retry.js';
import { isThrottled, isUnreachable } from '../store/store-errors.js';
import type { CliContext } from './cli-context.js';

export type StoreCall = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export function waitingStoreCalls(ctx: CliContext, command: string): StoreCall {
  return (what, fn) =>
    retryStoreCall(what, fn, {
      throttle: { observe: () => undefined },
      isFatal: (err) => !isUnreachable(err) && !isThrottled(err),
      onRetry: (retry) => {
        // error is `<what>: <the store's message>`, and the store's message names the call
        if (!ctx.quiet)
          ctx.err(
            `switchyard ${command}: ${retry.error.slice(what.length + 2)} — ${waitWords(retry)}`,
          );
      },
    });
}

/**
 * What a job does about a failed store call, in words, for its log line: "waiting 180 ms, then
 * trying again (attempt 3 of 12)". Attempt 0 is the backfill's "the store refused the scan
 * cursor (its server restarted): the partition is walked again", which does not wait.
 */
export function waitWords({ attempt, delayMs }: { attempt: number; delayMs: number }): string {
  if (attempt === 0) return 'the partition is walked again from its beginning';
  const delay = delayMs < 1000 ? `${delayMs} ms` : `${(delayMs / 1000).toFixed(1)} s`;
  return `waiting ${delay}, then trying again (attempt ${attempt} of ${MAX_STORE_RETRIES})`;
}
