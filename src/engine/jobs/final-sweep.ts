/**
 * The final sweep of an in-place job (issue 21): one more walk of the whole collection before a
 * run says "backfilled" or "rolled back", counting the documents it left undone.
 *
 * Why: a job trusts its partitions' walks to have seen every document. On a store whose scan
 * cursors belong to one server process (Redis SCAN: `cursorsTiedToServer`), a restart or a
 * failover can take that away; the adapter refuses such a cursor and the runner walks the
 * partition again, and this sweep is what confirms it worked, whatever went wrong on the way.
 *
 * Rules:
 * - runs where the collection's cursors are tied to a server (Redis, both layouts) and the run
 *   was disturbed (`disturbs`: a walk restarted, a store call retried), or when asked
 *   (`finalSweep: true`); elsewhere a cursor is a key and the walk cannot lose its place. An
 *   undisturbed run is not swept by default: every SCAN call checks the server's run id, so its
 *   walks are whole, and the sweep costs one more read of every document (bench/backfill-redis.js
 *   `nosweep`: 0.99x of the hand loop without it, 0.68x with it, at 100k documents);
 * - backfill (`backfillLeft`): a document is left when it is not at `to`, has no dead letter
 *   (those are reported as dead letters), and its transform would write it (not skipped by
 *   `onInvalid: 'skip'`; looked-up documents are read for it as the backfill reads them);
 * - rollback (`rollbackLeft`): a document is left when it is still at `to` and has no conflict
 *   recorded (a conflict is kept on purpose and reported as one);
 * - documents that cannot be read are the dead letters' business, not counted here;
 * - a cursor refused during the sweep starts the sweep again from the beginning (at most
 *   MAX_SWEEP_WALKS times, then the refusal is thrown);
 * - it reads and never writes: a document left stays for the next run, which walks everything
 *   afresh and finds it.
 */
import type { Migration } from '../../migration/migration.js';
import type { DeadLetters } from '../../state/dead-letters.js';
import type { Collection, Key, Store, StoredDoc } from '../../store/contract.js';
import { isCursorInvalidated } from '../../store/store-errors.js';
import { readLookups } from '../lookups.js';
import type { BatchIo, RunnerEvent } from '../runner/job.js';
import { decideInPlace } from './backfill-in-place.js';

export const MAX_SWEEP_WALKS = 5;
/** keys named in the message */
const SAMPLE = 5;

export interface SweepResult {
  /** documents read by the walk that counted */
  readonly seen: number;
  /** documents left undone */
  readonly left: number;
  /** a few of their keys */
  readonly keys: readonly string[];
}

/** Of a page's readable documents, those the job left undone. */
export type LeftOf = (items: readonly StoredDoc[], io: BatchIo) => Promise<readonly StoredDoc[]>;

/**
 * Whether to sweep: as forced, else where cursors are tied to a server and the run was
 * `disturbed` (a walk restarted, a store call retried: see `disturbs`).
 */
export function sweepWanted(
  source: Collection,
  forced: boolean | undefined,
  disturbed: boolean,
): boolean {
  return forced ?? (source.capabilities.cursorsTiedToServer === true && disturbed);
}

/**
 * A runner event after which a walk may have lost its place: a partition walked again (a cursor
 * refused: the server restarted or failed over) or a store call retried (the server away, a
 * connection lost). A run without one saw every scan call answered by the server its cursor
 * belongs to (the adapter checks the run id on every call), so its walks are whole.
 */
export function disturbs(e: RunnerEvent): boolean {
  return e.type === 'restart' || e.type === 'retry';
}

/** Walk `source` whole, counting what `leftOf` says was left undone. */
export async function finalSweep(
  source: Collection,
  io: BatchIo,
  batchSize: number,
  leftOf: LeftOf,
): Promise<SweepResult> {
  for (let walk = 1; ; walk++) {
    try {
      return await walkOnce(source, io, batchSize, leftOf);
    } catch (err) {
      if (!isCursorInvalidated(err) || walk >= MAX_SWEEP_WALKS) throw err;
    }
  }
}

async function walkOnce(
  source: Collection,
  io: BatchIo,
  batchSize: number,
  leftOf: LeftOf,
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
    for (const s of await leftOf(page.items, io)) {
      left += 1;
      if (keys.length < SAMPLE) keys.push(s.key);
    }
    cursor = page.cursor;
  } while (cursor !== null && io.signal?.aborted !== true);
  return { seen, left, keys };
}

/** `items` without those whose key `has` finds (dead letters, conflicts): one read. */
async function withoutRecorded(
  items: readonly StoredDoc[],
  has: (keys: readonly Key[]) => Promise<Set<Key>>,
  what: string,
  io: BatchIo,
): Promise<StoredDoc[]> {
  if (items.length === 0) return [];
  const recorded = await io.retrying(what, () => has(items.map((s) => s.key)));
  return items.filter((s) => !recorded.has(s.key));
}

/** A backfill's leftovers: not at `to`, no dead letter, and the transform would write them. */
export function backfillLeft(store: Store, m: Migration, dead: DeadLetters): LeftOf {
  return async (items, io) => {
    const old = items.filter((s) => !m.isMigrated(s.doc));
    const rest = await withoutRecorded(old, (k) => dead.has(k), 'final sweep dead letters', io);
    if (rest.length === 0) return [];
    const lookups = await readLookups(
      store,
      m,
      rest.map((s) => s.doc),
      (what, fn) => io.retrying(what, fn),
    );
    return rest.filter((s, i) => decideInPlace(m, s, lookups[i], false).kind !== 'skip');
  };
}

/** A rollback's leftovers: still at `to`, no conflict recorded (`conflicts`: the conflicts' collection). */
export function rollbackLeft(m: Migration, conflicts: Collection): LeftOf {
  return async (items, io) =>
    withoutRecorded(
      items.filter((s) => m.isMigrated(s.doc)),
      async (keys) => {
        const found = await conflicts.getMany(keys);
        return new Set(keys.filter((_, i) => found[i] !== null));
      },
      'final sweep conflicts',
      io,
    );
}
