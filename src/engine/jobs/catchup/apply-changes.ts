/**
 * What catch-up does to the target for a batch of changed keys (catchup-job.ts reads the feed):
 * re-read the source documents by key (the event's payload is not trusted: the current document
 * is, so duplicates and order do not matter), write `up(doc)` where the source has the document
 * and delete the target's where it has none, unconditionally.
 *
 * Rules:
 * 1. Target writes are unconditional, so the lease is renewed before them when it is older than
 *    a third of its TTL (`io.ensureLease`): a process whose lease was taken over never writes.
 * 2. The race with the backfill. The backfill copies with must-be-absent writes, so it can
 *    only undo a delete: it reads a document, catch-up deletes it from the target (the source
 *    deleted it), and the backfill's write, made after, puts it back. An update cannot be undone
 *    that way: catch-up's put makes the target document exist, so the backfill's late write
 *    conflicts; and a put by the backfill before catch-up's is overwritten by catch-up. So every
 *    key catch-up finds gone is kept in `_sy_catchup_<id>` (before the target is touched), and
 *    applied again — re-read, put or delete — whenever the catalog says no backfill is running
 *    (status neither backfilling nor paused), then dropped. Only a backfill running when the key
 *    was deleted can have read it before; such a run keeps the status at backfilling until it is
 *    over, and a run started later reads the source without the key. This also covers a backfill
 *    run again later, and a backfill killed and never finished (the keys wait).
 *    What it costs: one state-store write per batch that deletes, and one re-read per deleted key
 *    once the backfill is done. A full replay from the start position would need the feed to keep
 *    every change since the start (MongoDB's oplog may not).
 * 2b. With lookups, up() sees the looked-up documents as read with the batch's source documents:
 *    one getMany per batch and looked-up collection (engine/lookups.ts).
 * 3. A document whose up() throws, or whose new shape is too large for the target store, goes to
 *    the dead letters (its target document is left as it is); the batch goes on.
 * 4. With a key mapping (`target.key`) the target is addressed by source keys (mapped-target.ts):
 *    puts and deletes go to up(k). A key the mapping refuses is a dead letter when the source has
 *    the document, and nothing at all when it has none (no copy can have been written for it).
 * 5. A split (`targets`): every changed key is applied to every target, each with its own up()
 *    and key mapping, from the one source read; the counts are the first target's, the dead
 *    letters every target's (naming it). A delete removes the key from every target.
 * 6. A merge (`merge`): a changed key of a secondary source's feed is applied like one of the
 *    source's (source-feeds.ts): the source document re-read, its secondaries looked up now.
 */
import { StoreError } from '../../../core/errors.js';
import type { Doc } from '../../../core/values.js';
import type { Migration } from '../../../migration/migration.js';
import { readLookups } from '../../lookups.js';
import { MigrationStatus, type CatalogEntry } from '../../../state/catalog.js';
import { DeadLetters } from '../../../state/dead-letters.js';
import type { Collection, Key, StoredDoc, WriteOp } from '../../../store/contract.js';
import type { EngineContext } from '../../context.js';
import type { BatchIo } from '../../runner/job.js';
import { writeFitting } from '../write-fitting.js';
import { keyProblem } from '../../mapped-target.js';

/** The keys catch-up found deleted, to apply again once no backfill runs (rule 2). */
export function recheckCollectionName(migrationId: string): string {
  return `_sy_catchup_${migrationId}`;
}

/** A backfill may be running (or resume) while the status is backfilling or paused (rule 2). */
export function backfillMayRun(entry: CatalogEntry | null): boolean {
  return entry?.status === MigrationStatus.backfilling || entry?.status === MigrationStatus.paused;
}

export interface Applied {
  /** target documents written with up(doc) */
  applied: number;
  /** target documents deleted */
  deleted: number;
  /** documents whose up() threw */
  errors: number;
  /** keys noted for a recheck (their source document was gone) */
  noted: number;
}

/** One target catch-up writes: the migration as that target sees it, and its collection. */
export interface ApplyTarget {
  m: Migration;
  collection: Collection;
}

export class ChangeApplier {
  readonly #ctx: EngineContext;
  readonly #source: Collection;
  /** every target: the migration's, then a split's others (rule 5) */
  readonly #targets: readonly ApplyTarget[];
  readonly #recheck: Collection;
  readonly #dead: DeadLetters;
  /** keys may wait in the recheck collection */
  recheckDirty = true;

  constructor(
    ctx: EngineContext,
    m: Migration,
    target: Collection,
    more: readonly ApplyTarget[] = [],
  ) {
    this.#ctx = ctx;
    this.#source = ctx.store.collection(m.collection);
    this.#targets = [{ m, collection: target }, ...more];
    this.#recheck = ctx.stateStore.collection(recheckCollectionName(m.id));
    this.#dead = new DeadLetters(ctx.stateStore, m.id);
  }

  /** Apply these changed keys: note the ones that are gone (rule 2), then write the target. */
  async apply(keys: readonly Key[], io: BatchIo): Promise<Applied> {
    const docs = await io.retrying('getMany', () => this.#source.getMany(keys));
    const gone = keys.filter((_k, i) => docs[i] === null);
    if (gone.length > 0) {
      await io.retrying('recheck', () =>
        this.#recheck.write(
          gone.map((key) => ({ type: 'put' as const, key, doc: { key, at: Date.now() } })),
        ),
      );
      this.recheckDirty = true;
    }
    return { ...(await this.#write(keys, docs, io)), noted: gone.length };
  }

  /** Apply every noted deleted key again and forget it (rule 2); returns how many. */
  async recheckAll(io: BatchIo): Promise<number> {
    let total = 0;
    for (;;) {
      if (io.signal?.aborted === true) return total;
      const page = await io.retrying('recheck', () => this.#recheck.scan({ limit: io.limit }));
      if (page.items.length === 0) break;
      const keys = page.items.map((i) => i.key);
      const docs = await io.retrying('getMany', () => this.#source.getMany(keys));
      await this.#write(keys, docs, io);
      await io.retrying('recheck', () =>
        this.#recheck.write(
          page.items.map((i) => ({ type: 'delete' as const, key: i.key, ifRev: i.rev })),
        ),
      );
      total += keys.length;
    }
    this.recheckDirty = false;
    return total;
  }

  /** Every target (rule 5): the first target's counts, every target's errors. */
  async #write(
    keys: readonly Key[],
    docs: readonly (StoredDoc | null)[],
    io: BatchIo,
  ): Promise<Omit<Applied, 'noted'>> {
    let first: Omit<Applied, 'noted'> | undefined;
    let errors = 0;
    for (const t of this.#targets) {
      const r = await this.#writeTarget(t, keys, docs, io);
      first ??= r;
      errors += r.errors;
    }
    return { ...first!, errors };
  }

  /** up(doc) for present documents, delete for absent ones; dead letters for failing up(). */
  async #writeTarget(
    { m, collection: target }: ApplyTarget,
    keys: readonly Key[],
    docs: readonly (StoredDoc | null)[],
    io: BatchIo,
  ): Promise<Omit<Applied, 'noted'>> {
    const split = this.#targets.length > 1;
    const named = (e: string) => (split ? `${m.target!.collection}: ${e}` : e);
    const ops: WriteOp[] = [];
    const dead: { key: string; error: string; version: number; at: number }[] = [];
    // what the batch looks up: one getMany per looked-up collection (engine/lookups.ts)
    const lookups = await readLookups(
      this.#ctx.store,
      m,
      docs.map((d) => d?.doc ?? {}),
      (what, fn) => io.retrying(what, fn),
    );
    keys.forEach((key, i) => {
      const found = docs[i] ?? null;
      const refused = keyProblem(m, key);
      if (found === null) {
        if (refused === undefined) ops.push({ type: 'delete', key });
        return;
      }
      if (refused !== undefined) {
        dead.push({
          key,
          error: named(refused.message),
          version: m.versionOf(found.doc),
          at: Date.now(),
        });
        return;
      }
      let after: Doc;
      try {
        after = m.up(found.doc, lookups[i]);
      } catch (err) {
        const version = m.versionOf(found.doc);
        dead.push({ key, error: named((err as Error).message), version, at: Date.now() });
        return;
      }
      ops.push({ type: 'put', key, doc: after });
    });
    if (dead.length > 0) {
      await io.retrying('dead letters', () => this.#dead.add(dead));
      for (const d of dead) io.emit({ type: 'dead-letter', key: d.key, error: d.error });
    }
    if (ops.length > 0) {
      await io.ensureLease();
      const results = await writeFitting(
        ops,
        (fit) => io.retrying('write', () => target.write(fit)),
        async (err) => {
          // too large for the store after up(): a dead letter naming the key and size (write-fitting.ts)
          const d = { key: err.key, error: named(err.message), version: m.from, at: Date.now() };
          await io.retrying('dead letters', () => this.#dead.add([d]));
          io.emit({ type: 'dead-letter', key: d.key, error: d.error });
          dead.push(d);
        },
      );
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0)
        throw new StoreError(
          `unconditional writes to '${m.target!.collection}' reported conflicts for ${failed.map((r) => r.key).join(', ')}`,
        );
    }
    const deleted = ops.filter((o) => o.type === 'delete').length;
    return { applied: ops.length - deleted - tooLarge(dead, ops), deleted, errors: dead.length };
  }
}

/** how many of the ops went to the dead letters as too large (written by none) */
function tooLarge(dead: readonly { key: string }[], ops: readonly WriteOp[]): number {
  const keys = new Set(dead.map((d) => d.key));
  return ops.filter((o) => o.type === 'put' && keys.has(o.key)).length;
}
