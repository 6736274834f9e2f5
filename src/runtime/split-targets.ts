/**
 * The other targets of a split (`targets`, migration.ts `extraTargets`) as the runtime and the
 * repair drain write them: each holds its own up() of the SOURCE document, derived after the
 * source was written. The first target is the route's `new` side and follows dual-write.ts.
 *
 * Rules:
 * - Derived from the source, whatever the stage: in dual-write, shadow and live (for keys old
 *   answers) the source is the truth; where the first target is authoritative (live keys,
 *   rampdown) the source receives down(doc) before this runs, so up_i(down(doc)) is derived.
 *   From `complete` on the source is no longer written: the truth is the first target, and the
 *   other targets get up_i(down(first target's document)).
 * - Per key, as the copy backfill: read the target FIRST, then the source, and write conditional
 *   on the target's rev (or on its absence). Every writer derives after its own source write, so
 *   a writer whose target write wins wrote from a source read made after every earlier source
 *   write; one whose write conflicts reads both again, up to `rounds` times (dual-write.ts
 *   `RECONCILE_ROUNDS`).
 * - A target already equal to up_i(source) is not written. A source at the migration's `to` (a
 *   document the application put in the new shape reached the source as down(doc)) is never
 *   seen here: the source holds the old shape.
 * - Not proven after the rounds, or a store error, up_i() refusing the document: the caller
 *   queues the key for repair (its `new` side); the drain derives the other targets again.
 */
import { canonicalEquals } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Doc } from '../core/values.js';
import type { Collection, Key, WriteOp } from '../store/contract.js';

/** One of a split's other targets: its one-target migration and its collection (source keys). */
export interface SplitTarget {
  readonly m: Migration;
  readonly collection: Collection;
}

/** The source document of a key (old shape), or null: what the other targets derive from. */
export type SourceRead = (key: Key) => Promise<Doc | null>;

/** The source's own document (every stage that writes the source). */
export function fromSource(source: Collection): SourceRead {
  return async (key) => (await source.getMany([key]))[0]?.doc ?? null;
}

/** down() of the first target's document (`complete`: the source is no longer written). */
export function fromFirstTarget(m: Migration, first: Collection): SourceRead {
  return async (key) => {
    const got = (await first.getMany([key]))[0];
    return got == null ? null : m.down(got.doc);
  };
}

/** Derive every other target of `key` from the source (header); throws when one cannot be. */
export async function writeSplitTargets(
  read: SourceRead,
  targets: readonly SplitTarget[],
  key: Key,
  rounds: number,
): Promise<void> {
  for (const t of targets) await deriveOne(read, t, key, rounds);
}

async function deriveOne(
  read: SourceRead,
  t: SplitTarget,
  key: Key,
  rounds: number,
): Promise<void> {
  await deriveTarget(
    read,
    t.collection,
    (truth) => t.m.up(truth),
    t.m.target!.collection,
    key,
    rounds,
  );
}

/**
 * One target document derived from the truth by `derive` (the header's rules: target read first,
 * then the truth, the write conditional on the target's rev, up to `rounds` times); also what a
 * merge's runtime follow does (merge-follow.ts). Throws when it cannot be proven.
 */
export async function deriveTarget(
  read: SourceRead,
  target: Collection,
  derive: (truth: Doc) => Doc | Promise<Doc>,
  name: string,
  key: Key,
  rounds: number,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const [now] = await target.getMany([key]);
    const truth = await read(key);
    const want = truth === null ? null : await derive(truth);
    if (want === null && now == null) return;
    if (want !== null && now != null && canonicalEquals(want, now.doc)) return;
    const op: WriteOp =
      want === null
        ? { type: 'delete', key, ifRev: now!.rev }
        : { type: 'put', key, doc: want, ifRev: now?.rev ?? null };
    const [res] = await target.write([op]);
    if (res?.ok === true) return;
  }
  throw new Error(
    `${name}: the order of concurrent writes could not be proven after ${rounds} rounds`,
  );
}
