/**
 * What the engine does for a fan-out (migration/fan-out.ts): the in-place backfill writes the
 * emitted documents before their parent, rollback removes them, verify checks them. Every key
 * written to the fan-out's collection is named in the parent's journal entry (sealed), so a
 * rollback removes exactly what the migration wrote.
 *
 * Backfill, per batch round (jobs/backfill-in-place.ts calls `prepareFanOut` then `writeFanOut`):
 * 1. The parents' existing journal entries are read (one getMany): an entry of a parent not yet at
 *    `to` is an earlier attempt that did not finish (a kill, a conflicting parent write). Its keys
 *    that this attempt does not write again (the array changed meanwhile) are `dropped`: named in
 *    the new entry with their hash and deleted before the parent is written.
 * 2. The emitted keys are read in the fan-out's collection (one getMany): a key that holds a
 *    document no attempt of this migration wrote refuses the parent (a dead letter naming the
 *    key): it would be overwritten, and a rollback could not give it back.
 * 3. Write order: the journal entries (write-ahead, in the state store) -> the deletes of the
 *    dropped keys and the puts of the emitted documents (unconditional: a redone batch writes the
 *    same keys with the same content) -> the parents, each conditional on the rev read. Where the
 *    state lives in the data store, 1 and 2 of the writes go in one atomic write.
 *    A kill -9 anywhere redoes the batch: the parent is not at `to`, so it is transformed again,
 *    its entry names everything earlier attempts wrote, and the same keys are written again.
 *
 * Rollback (jobs/rollback.ts): for a parent that is restored from its before-image, or that the
 * migration never wrote (its entry is from an unfinished attempt), the documents its entry names
 * (emitted and dropped) are deleted first, each only if its content hash is still the recorded
 * one (conditional on the rev read); a document the application changed since is a conflict
 * named `<collection>/<key>` and kept. A parent that is a conflict (changed by the application)
 * keeps its emitted documents too. Redone after a kill, the deletes find nothing.
 *
 * Verify (jobs/verify-in-place.ts, the journal's side): for a parent at `to`, the emitted
 * documents recomputed from the before-image must exist and equal what is stored; each one
 * missing or different is named `<collection>/<key>` with its differing paths.
 */
import { diff } from '../core/diff.js';
import { canonicalString, contentHash } from '../core/values.js';
import type { Emitted, FanOut } from '../migration/fan-out.js';
import type { Migration } from '../migration/migration.js';
import { beforeImage, type Journal, type JournalEntry } from '../state/journal.js';
import type { Store, StoredDoc, WriteOp, WriteResult } from '../store/contract.js';
import type { BatchIo } from './runner/job.js';
import { toMismatch, type VerifyAcc } from './jobs/verify-acc.js';

const MAX_DELETE_ROUNDS = 10;

/** `<collection>/<key>`: how reports name a document of the fan-out's collection */
export const emittedName = (f: FanOut, key: string): string => `${f.into}/${key}`;

/** The `[key, hash]` pairs a journal entry records of emitted documents. */
export function emittedPairs(emitted: readonly Emitted[]): [string, string][] {
  return emitted.map((e) => [e.key, contentHash(e.doc)]);
}

/** A parent the backfill is about to write, with what it emits. */
export interface FanOutWrite {
  op: WriteOp;
  journal: JournalEntry;
  emitted: Emitted[];
}

/** What `prepareFanOut` leaves to write, and the parents it refused. */
export interface PreparedFanOut {
  writes: FanOutWrite[];
  /** the child ops per parent key (deletes of dropped keys, puts of emitted documents) */
  children: Map<string, WriteOp[]>;
  refused: { key: string; error: string }[];
}

/** Steps 1 and 2 of the header: earlier attempts' keys, and keys that are not ours. */
export async function prepareFanOut(
  store: Store,
  f: FanOut,
  journal: Journal,
  writes: readonly FanOutWrite[],
  io: BatchIo,
): Promise<PreparedFanOut> {
  const out: PreparedFanOut = { writes: [], children: new Map(), refused: [] };
  if (writes.length === 0) return out;
  const old = await io.retrying('journal', () => journal.get(writes.map((w) => w.op.key)));
  const childKeys = writes.flatMap((w) => w.emitted.map((e) => e.key));
  const into = store.collection(f.into);
  const existing =
    childKeys.length > 0
      ? await io.retrying(`getMany ${f.into}`, () => into.getMany(childKeys))
      : [];
  const stored = new Map<string, StoredDoc>();
  existing.forEach((s, i) => {
    if (s !== null) stored.set(childKeys[i]!, s);
  });
  writes.forEach((w, i) => {
    const parentKey = w.op.key;
    const prev = old[i] ?? null;
    if (prev !== null && journal.unverified(parentKey, prev) !== undefined) {
      out.refused.push({
        key: parentKey,
        error: `its journal entry from an earlier attempt does not verify (${journal.unverified(parentKey, prev)}): the documents it wrote to ${f.into} cannot be trusted; not written`,
      });
      return;
    }
    const earlier = new Map<string, string>([...(prev?.dropped ?? []), ...(prev?.emitted ?? [])]);
    const foreign = w.emitted.find((e) => stored.has(e.key) && !earlier.has(e.key));
    if (foreign !== undefined) {
      out.refused.push({
        key: parentKey,
        error: `fanOut: ${emittedName(f, foreign.key)} already holds a document this migration did not write; it would be overwritten, so '${parentKey}' was not written`,
      });
      return;
    }
    const now = new Set(w.emitted.map((e) => e.key));
    const dropped = [...earlier].filter(([k]) => !now.has(k));
    out.writes.push({
      ...w,
      journal: { ...w.journal, ...(dropped.length > 0 ? { dropped } : {}) },
    });
    out.children.set(parentKey, [
      ...dropped.map(([key]) => ({ type: 'delete' as const, key })),
      ...w.emitted.map((e) => ({ type: 'put' as const, key: e.key, doc: e.doc })),
    ]);
  });
  return out;
}

/**
 * Step 3 of the header: the journal entries, then the emitted documents, then the parents (only
 * those of `ops`). Returns the parents' results.
 */
export async function writeFanOut(
  store: Store,
  stateStore: Store,
  m: Migration,
  journal: Journal,
  prepared: PreparedFanOut,
  ops: readonly WriteOp[],
  io: BatchIo,
): Promise<WriteResult[]> {
  const f = m.fanOut!;
  const keys = new Set(ops.map((o) => o.key));
  const entries = {
    collection: journal.collectionName,
    ops: journal.recordOps(prepared.writes.filter((w) => keys.has(w.op.key)).map((w) => w.journal)),
  };
  const children = {
    collection: f.into,
    ops: [...keys].flatMap((k) => prepared.children.get(k) ?? []),
  };
  if (stateStore === store) await io.write(store, [entries, children]);
  else {
    await io.write(stateStore, [entries]);
    if (children.ops.length > 0) await io.write(store, [children]);
  }
  return (await io.write(store, [{ collection: m.collection, ops: [...ops] }]))[0]!;
}

/**
 * Rollback: delete the documents `entries` name (emitted and dropped) where each is still what
 * the migration wrote. Conflicts (changed since) are passed to `conflict` and kept. Returns how
 * many were deleted.
 */
export async function removeEmitted(
  store: Store,
  f: FanOut,
  entries: readonly JournalEntry[],
  io: BatchIo,
  conflict: (name: string, reason: string) => Promise<void>,
): Promise<number> {
  const hashOf = new Map<string, string>();
  for (const e of entries)
    for (const [k, h] of [...(e.dropped ?? []), ...(e.emitted ?? [])]) hashOf.set(k, h);
  if (hashOf.size === 0) return 0;
  const into = store.collection(f.into);
  let pending = [...hashOf.keys()];
  let removed = 0;
  for (let round = 0; pending.length > 0; round++) {
    const docs = await io.retrying(`getMany ${f.into}`, () => into.getMany(pending));
    const ops: WriteOp[] = [];
    for (const [i, s] of docs.entries()) {
      if (s === null) continue; // deleted already (a redone batch), or by the application
      if (contentHash(s.doc) !== hashOf.get(pending[i]!)) {
        await conflict(
          emittedName(f, s.key),
          'emitted by the migration, changed by the application since: kept',
        );
        continue;
      }
      if (round >= MAX_DELETE_ROUNDS)
        await conflict(
          emittedName(f, s.key),
          `kept changing during rollback (${MAX_DELETE_ROUNDS} conflicting deletes): kept`,
        );
      else ops.push({ type: 'delete', key: s.key, ifRev: s.rev });
    }
    if (ops.length === 0) break;
    const results = (await io.write(store, [{ collection: f.into, ops }]))[0]!;
    pending = [];
    for (const r of results) {
      if (r.ok) removed += 1;
      else pending.push(r.key);
    }
  }
  return removed;
}

/**
 * Verify: the emitted documents of the journalled parents that are at `to` (`parents[i]` is the
 * stored parent of `entries[i]`, null when gone), recomputed from the before-images, against
 * what the fan-out's collection holds. Counts `emitted`; what is missing or differs is counted
 * and named in `acc` as `<collection>/<key>`.
 */
export async function checkEmitted(
  store: Store,
  m: Migration,
  entries: readonly JournalEntry[],
  parents: readonly (StoredDoc | null)[],
  acc: VerifyAcc,
  maxSamples: number,
  io: BatchIo,
): Promise<void> {
  const f = m.fanOut!;
  const expected: Emitted[] = [];
  entries.forEach((e, i) => {
    const parent = parents[i];
    if (parent == null || !m.isMigrated(parent.doc)) return; // not migrated: the data side says so
    try {
      expected.push(...f.emit(e.key, beforeImage(e)).emitted);
    } catch {
      // the backfill could not have written it: its entry's own emitted keys are checked instead
    }
  });
  if (expected.length === 0) return;
  const stored = await io.retrying(`getMany ${f.into}`, () =>
    store.collection(f.into).getMany(expected.map((e) => e.key)),
  );
  expected.forEach((e, i) => {
    acc.counts.emitted = (acc.counts.emitted ?? 0) + 1;
    const s = stored[i] ?? null;
    const name = emittedName(f, e.key);
    if (s === null) {
      acc.counts.missing += 1;
      if (acc.samples.missing.length < maxSamples) acc.samples.missing.push(name);
      return;
    }
    if (canonicalString(s.doc) === canonicalString(e.doc)) return;
    const d = diff(e.doc, s.doc, { limit: 50 });
    acc.counts.mismatched += 1;
    for (const x of d)
      acc.paths[`${f.into}/${x.field}`] = (acc.paths[`${f.into}/${x.field}`] ?? 0) + 1;
    if (acc.samples.mismatched.length < maxSamples)
      acc.samples.mismatched.push(toMismatch(name, d));
  });
}
