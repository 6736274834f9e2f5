/**
 * The repair queue of a side-by-side migration: writes the runtime could not make on the
 * non-authoritative side (a store error, or up()/down() refused the document). One state
 * collection per migration (`_sy_repair_<id>`), keyed by document key, so a key is queued once:
 * a later failure on the same key replaces the entry.
 *
 * An entry is `{ key, op, side, error, at }`: `side` is the side that missed the write ('new' or
 * 'old'); the other side holds the truth for it. Recording the side (not deriving it from the
 * stage when draining) keeps a repair right when the live percent or the stage moved since.
 * A delete the new side answers for is announced here before it is made (`announceDelete`,
 * dual-write.ts) and withdrawn once both sides are deleted, so `pendingDeletes(keys)` names every
 * key whose document the new side lost and the old side still has: the rule for any job that
 * fills the target from the source (the in-live backfill): never copy those keys.
 *
 * `drainRepairs` re-reads the side that holds the truth and rewrites the side that missed the
 * write (up() or down() of the document, or a delete when it is gone), and removes the entries
 * that succeed. Rules:
 * - an entry is drained only while the current stage writes both sides (dual-write, shadow, live,
 *   rampdown); otherwise it is kept and counted as skipped: in `off` the new side is not written,
 *   and in `complete` the old side no longer is, so its truth may be stale;
 * - the rewrite is conditional on the rev read before the source, so a write the application
 *   makes meanwhile is never overwritten with an older document (a conflict keeps the entry);
 * - the entry is removed only if it is still the one drained (conditional on its rev), so a
 *   failure queued meanwhile is not lost;
 * - a split (`targets`): once a key's sides agree, its other targets are derived from the source
 *   again (split-targets.ts); one that cannot be keeps the entry (a failure).
 */
import type { Doc } from '../core/values.js';
import { sideBySideState, STAGE_RULES, type Stage } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Catalog } from '../state/catalog.js';
import type { Collection, Key, Rev, Store, StoredDoc, WriteOp } from '../store/contract.js';
import { StoreError } from '../core/errors.js';
import { openStore } from '../store/open-store.js';
import { targetCollection } from '../engine/mapped-target.js';
import { RECONCILE_ROUNDS } from './dual-write.js';
import { upNow } from './lookup-context.js';
import { fromSource, writeSplitTargets, type SplitTarget } from './split-targets.js';

export type Side = 'old' | 'new';

export interface RepairEntry {
  readonly key: Key;
  readonly op: 'put' | 'delete';
  /** the side that missed the write */
  readonly side: Side;
  readonly error: string;
  /** ISO 8601 time of the failure */
  readonly at: string;
}

export const DEFAULT_DRAIN_LIMIT = 1000;

export function repairCollectionName(migrationId: string): string {
  return `_sy_repair_${migrationId}`;
}

export class RepairQueue {
  readonly #c: Collection;

  constructor(stateStore: Store, migrationId: string) {
    this.#c = stateStore.collection(repairCollectionName(migrationId));
  }

  /** Queue a key (replacing its entry); returns the entry's rev. */
  async add(entry: Omit<RepairEntry, 'at'>): Promise<Rev | null> {
    const doc = { ...entry, at: new Date().toISOString() } as unknown as Doc;
    const [r] = await this.#c.write([{ type: 'put', key: entry.key, doc }]);
    return r?.ok === true ? r.rev : null;
  }

  /**
   * A write to the new side that failed where the call itself stands (the split's other targets,
   * a merge's re-derived target): queue the key for `repair`; a failure to queue goes to `onError`.
   */
  async queueFailed(
    key: Key,
    err: unknown,
    onError: (err: Error, what: string) => void,
  ): Promise<void> {
    const error = (err as Error)?.message ?? String(err);
    try {
      await this.add({ key, op: 'put', side: 'new', error });
    } catch (qerr) {
      onError(qerr as Error, 'repair-queue');
    }
  }

  /**
   * Say, before the new side is deleted, that the old side is about to miss that delete
   * (dual-write.ts); `remove(key, rev)` withdraws it once the old side is deleted too.
   */
  async announceDelete(key: Key): Promise<Rev> {
    const rev = await this.add({ key, op: 'delete', side: 'old', error: IN_FLIGHT });
    if (rev === null) throw new StoreError(`announcing the delete of '${key}' was refused`);
    return rev;
  }

  /**
   * The keys among `keys` whose document the new side deleted and the old side still has, or is
   * about to lose (isPendingDelete). A job that fills documents missing from the target from the
   * source must leave these keys alone: copying them would bring a deleted document back.
   */
  async pendingDeletes(keys: readonly Key[]): Promise<Set<Key>> {
    if (keys.length === 0) return new Set();
    const got = await this.#c.getMany(keys);
    return new Set(got.flatMap((s) => (s !== null && isPendingDelete(s.doc) ? [s.key] : [])));
  }

  async list(limit: number): Promise<StoredDoc[]> {
    return (await this.#c.scan({ limit })).items;
  }

  /** remove the entry if it is still at `rev`; false when it changed meanwhile */
  async remove(key: Key, rev: string): Promise<boolean> {
    const [r] = await this.#c.write([{ type: 'delete', key, ifRev: rev }]);
    return r?.ok === true;
  }

  count(): Promise<number> {
    return this.#c.count();
  }

  /** The keys among `keys` whose entry says `side` missed a write (the other side holds it). */
  async behind(side: Side, keys: readonly Key[]): Promise<Set<Key>> {
    if (keys.length === 0) return new Set();
    const got = await this.#c.getMany(keys);
    return new Set(got.flatMap((s) => (s !== null && sideOf(s) === side ? [s.key] : [])));
  }

  /** true when any entry says `side` missed a write (a scan of the queue, up to the first). */
  async anyBehind(side: Side): Promise<boolean> {
    let cursor: string | null = null;
    do {
      const page = await this.#c.scan({ cursor, limit: 1000 });
      if (page.items.some((s) => sideOf(s) === side)) return true;
      cursor = page.cursor;
    } while (cursor !== null);
    return false;
  }
}

/** The `error` of a delete announced before it is made (dual-write.ts). */
export const IN_FLIGHT = 'in flight: the new side is deleted first, the old side next';

/**
 * true for an entry saying the new side no longer has the document and the old side still may:
 * a delete the old side missed, or one under way (announced). Pure.
 */
export function isPendingDelete(entry: Doc | RepairEntry): boolean {
  const e = entry as Partial<RepairEntry>;
  return e.op === 'delete' && e.side === 'old';
}

/** The side an entry says missed the write (entries without one are from the new side). */
function sideOf(entry: StoredDoc): Side {
  return (entry.doc as unknown as RepairEntry).side === 'old' ? 'old' : 'new';
}

export interface DrainContext {
  store: Store;
  stateStore: Store;
  catalog: Catalog;
}

export interface DrainOptions {
  /** the most entries to look at (default 1000) */
  limit?: number;
  /** the target's store when the migration names another one (else opened and closed here) */
  targetStore?: Store;
}

export interface DrainResult {
  readonly repaired: number;
  readonly failed: number;
  /** kept because the stage does not write both sides, or the key changed meanwhile */
  readonly skipped: number;
  readonly errors: readonly { key: Key; error: string }[];
}

export async function drainRepairs(
  ctx: DrainContext,
  m: Migration,
  options: DrainOptions = {},
): Promise<DrainResult> {
  if (m.target === undefined) throw new TypeError(`${m.id} is not a side-by-side migration`);
  const queue = new RepairQueue(ctx.stateStore, m.id);
  const entries = await queue.list(options.limit ?? DEFAULT_DRAIN_LIMIT);
  const stage = sideBySideState(await ctx.catalog.get(m.id)).stage;
  if (entries.length === 0 || !writesBoth(stage))
    return { repaired: 0, failed: 0, skipped: entries.length, errors: [] };
  const own = m.target.store !== undefined && options.targetStore === undefined;
  const targetStore =
    m.target.store === undefined
      ? ctx.store
      : (options.targetStore ?? (await openStore(m.target.store)));
  try {
    return await drainEntries(
      queue,
      entries,
      m,
      { old: ctx.store.collection(m.collection), new: targetCollection(m, targetStore) },
      ctx.store,
      m.extraTargets.map((t) => ({ m: t, collection: targetCollection(t, targetStore) })),
    );
  } finally {
    if (own) await targetStore.close();
  }
}

function writesBoth(stage: Stage): boolean {
  const writes = STAGE_RULES[stage].writes;
  return writes.includes('old') && writes.includes('new');
}

/**
 * Drain the queue of a migration whose sides are `sides` (store collections, or the
 * application's functions: yard.migration), in `stage`, by the header's rules.
 */
export async function drainQueue(
  queue: RepairQueue,
  m: Migration,
  stage: Stage,
  sides: Record<Side, Collection>,
  limit = DEFAULT_DRAIN_LIMIT,
  /** where up() reads the migration's lookups (the data store) */
  lookups?: Store,
): Promise<DrainResult> {
  const entries = await queue.list(limit);
  if (entries.length === 0 || !writesBoth(stage))
    return { repaired: 0, failed: 0, skipped: entries.length, errors: [] };
  return drainEntries(queue, entries, m, sides, lookups);
}

async function drainEntries(
  queue: RepairQueue,
  entries: readonly StoredDoc[],
  m: Migration,
  sides: Record<Side, Collection>,
  lookups: Store | undefined,
  more: readonly SplitTarget[] = [],
): Promise<DrainResult> {
  let repaired = 0;
  let skipped = 0;
  const errors: { key: Key; error: string }[] = [];
  for (const entry of entries) {
    const { key, rev } = entry;
    const side = sideOf(entry);
    try {
      const outcome = await repairOne(
        m,
        sides[side === 'new' ? 'old' : 'new'],
        sides[side],
        side,
        key,
        lookups,
      );
      // a split: its other targets derived from the source again (split-targets.ts)
      if (outcome === 'ok' && more.length > 0)
        await writeSplitTargets(fromSource(sides.old), more, key, RECONCILE_ROUNDS);
      if (outcome === 'conflict' || !(await queue.remove(key, rev))) skipped++;
      else repaired++;
    } catch (err) {
      errors.push({ key, error: (err as Error)?.message ?? String(err) });
    }
  }
  return { repaired, failed: errors.length, skipped, errors };
}

async function repairOne(
  m: Migration,
  source: Collection,
  dest: Collection,
  side: Side,
  key: Key,
  lookups: Store | undefined,
): Promise<'ok' | 'conflict'> {
  const before = await dest.get(key);
  const truth = await source.get(key);
  if (truth === null && before === null) return 'ok';
  const op: WriteOp =
    truth === null
      ? { type: 'delete', key, ifRev: before!.rev }
      : {
          type: 'put',
          key,
          // up() with the lookups as read now (runtime/lookup-context.ts)
          doc: side === 'new' ? await upNow(lookups, m, truth.doc) : m.down(truth.doc),
          ifRev: before?.rev ?? null,
        };
  const [r] = await dest.write([op]);
  return r?.ok === true ? 'ok' : 'conflict';
}
