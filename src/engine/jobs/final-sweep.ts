/**
 * The final sweep of an in-place backfill (issue 21): one more walk of the whole collection
 * before a run says "backfilled", counting the documents it left at the old version.
 *
 * Why: a backfill trusts its partitions' walks to have seen every document. On a store whose scan
 * cursors belong to one server process (Redis SCAN: `cursorsTiedToServer`), a restart or a
 * failover can take that away; the adapter refuses such a cursor and the runner walks the
 * partition again, and this sweep is what confirms it worked, whatever went wrong on the way.
 *
 * Rules:
 * - runs where the collection's cursors are tied to a server (Redis, both layouts), or when asked
 *   (`finalSweep: true`); elsewhere a cursor is a key and the walk cannot lose its place, so the
 *   sweep would only repeat the backfill's reads;
 * - a document is left behind when it is not at `to`, has no dead letter (those are reported as
 *   dead letters), and its transform would write it (not skipped by `onInvalid: 'skip'`; looked-up
 *   documents are read for it as the backfill reads them);
 * - documents that cannot be read are the dead letters' business, not counted here;
 * - a cursor refused during the sweep starts the sweep again from the beginning (at most
 *   MAX_SWEEP_WALKS times, then the refusal is thrown);
 * - it reads and never writes: a document left behind stays for the next `backfill` run, which
 *   finds it (its version says so).
 */
import type { Migration } from '../../migration/migration.js';
import type { DeadLetters } from '../../state/dead-letters.js';
import type { Collection, Store } from '../../store/contract.js';
import { isCursorInvalidated } from '../../store/store-errors.js';
import { readLookups } from '../lookups.js';
import type { BatchIo } from '../runner/job.js';
import { decideInPlace } from './backfill-in-place.js';

export const MAX_SWEEP_WALKS = 5;
/** keys named in the message */
const SAMPLE = 5;

export interface SweepResult {
  /** documents read by the walk that counted */
  readonly seen: number;
  /** documents left at the old version */
  readonly left: number;
  /** a few of their keys */
  readonly keys: readonly string[];
}

export function sweepWanted(source: Collection, forced: boolean | undefined): boolean {
  return forced ?? source.capabilities.cursorsTiedToServer === true;
}

export async function finalSweep(
  store: Store,
  source: Collection,
  m: Migration,
  dead: DeadLetters,
  io: BatchIo,
  batchSize: number,
): Promise<SweepResult> {
  for (let walk = 1; ; walk++) {
    try {
      return await walkOnce(store, source, m, dead, io, batchSize);
    } catch (err) {
      if (!isCursorInvalidated(err) || walk >= MAX_SWEEP_WALKS) throw err;
    }
  }
}

async function walkOnce(
  store: Store,
  source: Collection,
  m: Migration,
  dead: DeadLetters,
  io: BatchIo,
  batchSize: number,
): Promise<SweepResult> {
  let cursor: string | null = null;
  let seen = 0;
  let left = 0;
  const keys: string[] = [];
  do {
    const page = await io.retrying('final sweep scan', () =>
      source.scan({ cursor, limit: batchSize }),
    );
    seen += page.items.length;
    const old = page.items.filter((s) => !m.isMigrated(s.doc));
    if (old.length > 0) {
      const deadKeys = await io.retrying('final sweep dead letters', () =>
        dead.has(old.map((s) => s.key)),
      );
      const rest = old.filter((s) => !deadKeys.has(s.key));
      const lookups = await readLookups(
        store,
        m,
        rest.map((s) => s.doc),
        (what, fn) => io.retrying(what, fn),
      );
      for (const [i, s] of rest.entries()) {
        if (decideInPlace(m, s, lookups[i]).kind === 'skip') continue;
        left += 1;
        if (keys.length < SAMPLE) keys.push(s.key);
      }
    }
    cursor = page.cursor;
  } while (cursor !== null && io.signal?.aborted !== true);
  return { seen, left, keys };
}
