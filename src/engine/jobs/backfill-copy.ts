/**
 * The side-by-side copy job: make the target hold up(source) for every key of the source, never
 * overwriting a write of the application's.
 *
 * Rules:
 * - The target is read FIRST, then the source again, and every write is conditional on the
 *   target's rev (absent: must still be absent). The application writes the source before the
 *   target (old side authoritative), so any write it makes after our target read changes that
 *   rev and our write loses; one made before our source read is what we copy.
 * - In dual-write and shadow (the old side answers and is authoritative for every key) a target
 *   document that differs from up(source) is overwritten, and one whose source is gone is
 *   deleted: this repairs a target left stale while the stage was off (after a rollback to off)
 *   or by a lost shadow write. After the copy, a sweep deletes target documents whose source is
 *   gone (`sweepTargetExtras`), by the same rule.
 * - In live and rampdown the new side is authoritative for some or all keys: only missing target
 *   documents are filled; existing ones are the application's and are left alone.
 * - A result up() must not write (not storable, key changed, failing the migration's checks:
 *   checked-up.ts) is a dead letter, never written. With a key mapping (`target.key`) the target
 *   is addressed by source keys (mapped-target.ts); a key the mapping refuses (not mapped, or
 *   down(up(k)) is not k) is a dead letter naming it, and the target is not read for it.
 * - A target that already equals up(source) is not written (counted as skipped), so a rerun is
 *   cheap; a conditional write that loses is skipped too (the application's write is newer).
 * - A source document an operation with `onInvalid: 'skip'` refuses (SkippedDocumentError) is
 *   left as it is: nothing is written to the target for it, it is counted as skipped.
 * - The stage is the one of the last control read (before every batch).
 * - With lookups, up() sees the looked-up documents as read with the batch: one getMany per batch
 *   and looked-up collection, in the source's store (engine/lookups.ts), by the source documents
 *   as read.
 * - A split (`targets`) writes every target by these rules, one after the other for each batch,
 *   each with its own up() and key mapping; the source is read once per batch. The batch's
 *   counts are the first target's, plus the dead letters of every target (their error names the
 *   target). A batch redone after a kill rewrites nothing that is already right, on any target.
 * A batch redone after a kill is harmless for the same reasons.
 */
import { contentHash } from '../../core/values.js';
import type { TransformContext } from '../../migration/lookups.js';
import type { Migration } from '../../migration/migration.js';
import { isSkippedDocument } from '../../migration/operation-error.js';
import type { CatalogEntry } from '../../state/catalog.js';
import { ZERO_COUNTS, type PartitionCounts } from '../../state/partitions.js';
import type { Collection, StoredDoc, WriteOp } from '../../store/contract.js';
import type { EngineContext } from '../context.js';
import { readLookups } from '../lookups.js';
import type { BatchIo } from '../runner/job.js';
import { sideBySideState, Stage } from '../stages.js';
import { BackfillJob, type NewDeadLetter } from './backfill-job.js';
import { checkedUp } from './checked-up.js';
import { readEach } from './unreadable-items.js';
import { keyProblem, sourceGetMany } from '../mapped-target.js';

/** What the copy does with one key, given both sides as read. */
export type CopyDecision =
  { kind: 'skip' } | { kind: 'dead'; error: unknown } | { kind: 'write'; op: WriteOp };

export function decideCopy(
  m: Migration,
  key: string,
  src: StoredDoc | null,
  tgt: StoredDoc | null,
  overwrite: boolean,
  lookups?: TransformContext,
): CopyDecision {
  if (src === null)
    return overwrite && tgt !== null
      ? { kind: 'write', op: { type: 'delete', key, ifRev: tgt.rev } }
      : { kind: 'skip' };
  if (m.isMigrated(src.doc) || (tgt !== null && !overwrite)) return { kind: 'skip' };
  const up = checkedUp(m, key, src.doc, lookups);
  if (!up.ok)
    return isSkippedDocument(up.error) ? { kind: 'skip' } : { kind: 'dead', error: up.error };
  const after = up.doc;
  if (tgt !== null && contentHash(after) === contentHash(tgt.doc)) return { kind: 'skip' };
  return {
    kind: 'write',
    op: { type: 'put', key, doc: after, ifRev: tgt === null ? null : tgt.rev },
  };
}

/** One target of the copy: the migration as seen by that target, and its collection. */
export interface CopyTarget {
  m: Migration;
  collection: Collection;
}

export class CopyBackfillJob extends BackfillJob {
  readonly #ctx: EngineContext;
  readonly #target: Collection;
  /** every target: the first is `#target`; a split adds its others */
  readonly #targets: readonly CopyTarget[];
  /** the stage, as of the last control read (decides what may be overwritten) */
  #stage: Stage | undefined;

  constructor(
    ctx: EngineContext,
    m: Migration,
    target: Collection,
    more: readonly CopyTarget[] = [],
  ) {
    super(ctx, m);
    this.#ctx = ctx;
    this.#target = target;
    this.#targets = [{ m, collection: target }, ...more];
  }

  get destination(): Collection {
    return this.#target;
  }

  /** In dual-write and shadow the old side is authoritative for every key. */
  get overwrites(): boolean {
    return this.#stage === Stage.dualWrite || this.#stage === Stage.shadow;
  }

  override onControl(entry: CatalogEntry | null): string | undefined {
    this.#stage = sideBySideState(entry).stage;
    return super.onControl(entry);
  }

  async process(
    items: readonly StoredDoc[],
    io: BatchIo,
    deadKeys?: Set<string>,
  ): Promise<Partial<PartitionCounts>> {
    if (this.#targets.length === 1)
      return this.#processTarget(this.#targets[0]!, items, io, deadKeys);
    let first: PartitionCounts | undefined;
    let errors = 0;
    for (const t of this.#targets) {
      const c = await this.#processTarget(t, items, io, deadKeys);
      first ??= c;
      errors += c.errors;
    }
    return { ...first!, errors };
  }

  async #processTarget(
    { m, collection: target }: CopyTarget,
    items: readonly StoredDoc[],
    io: BatchIo,
    deadKeys?: Set<string>,
  ): Promise<PartitionCounts> {
    const counts: PartitionCounts = { ...ZERO_COUNTS };
    const overwrite = this.overwrites;
    const dead: NewDeadLetter[] = [];
    // in a split, a dead letter names the target it failed for
    const named = (d: NewDeadLetter): NewDeadLetter =>
      this.#targets.length === 1 ? d : { ...d, error: `${m.target!.collection}: ${d.error}` };
    // a source key the key mapping (target.key) refuses is a dead letter naming it
    const refused = new Set<string>();
    for (const item of items) {
      const problem = keyProblem(m, item.key);
      if (problem === undefined) continue;
      refused.add(item.key);
      dead.push(this.deadLetter(item, problem));
    }
    const mapped = refused.size === 0 ? items : items.filter((i) => !refused.has(i.key));
    const keys = mapped.map((i) => i.key);
    // a document either side cannot read (not JSON, a JSON array) is a dead letter naming its key
    const unreadable = new Map<string, string>();
    const targets = await readEach(target, keys, io, (key, why) =>
      unreadable.set(key, `the target document cannot be read (${why})`),
    );
    const sources = overwrite
      ? await readEach(this.source, keys, io, (key, why) =>
          unreadable.set(key, `the stored document cannot be read (${why})`),
        )
      : mapped;
    // what the batch looks up: one getMany per looked-up collection (engine/lookups.ts)
    const lookups = await readLookups(
      this.#ctx.store,
      m,
      sources.map((s) => s?.doc ?? {}),
      (what, fn) => io.retrying(what, fn),
    );
    const ops: WriteOp[] = [];
    keys.forEach((key, i) => {
      const bad = unreadable.get(key);
      if (bad !== undefined) {
        dead.push({
          key,
          error: `${bad}; it was not copied. Repair or delete it, then run backfill --retry-dead`,
          version: m.from,
          at: Date.now(),
        });
        return;
      }
      const src = sources[i] ?? null;
      const d = decideCopy(m, key, src, targets[i] ?? null, overwrite, lookups[i]);
      if (d.kind === 'skip') counts.skipped += 1;
      else if (d.kind === 'dead') dead.push(this.deadLetter(src!, d.error));
      else ops.push(d.op);
    });
    counts.errors += await this.addDead(dead.map(named), io, deadKeys);
    if (ops.length === 0) return counts;
    const results = await this.timed(io, () =>
      this.fitting(
        ops,
        (fit) => io.retrying('write', () => target.write(fit)),
        io,
        counts,
        deadKeys,
      ),
    );
    for (const r of results) {
      if (r.ok) counts.migrated += 1;
      else counts.skipped += 1; // the application wrote it meanwhile: its write stands
    }
    return counts;
  }

  /**
   * In dual-write or shadow, after the copy: delete target documents whose source is gone (the
   * application deleted them while the stage was off). Target read first, then the source, the
   * delete conditional on the target's rev. Returns how many.
   */
  async sweepTargetExtras(io: BatchIo, batchSize: number): Promise<number> {
    let removed = 0;
    for (const t of this.#targets) removed += await this.#sweep(t.collection, io, batchSize);
    return removed;
  }

  async #sweep(target: Collection, io: BatchIo, batchSize: number): Promise<number> {
    let removed = 0;
    let cursor: string | null = null;
    do {
      const page = await io.retrying('scan', () => target.scan({ cursor, limit: batchSize }));
      const sources = await io.retrying('getMany', () =>
        sourceGetMany(
          this.source,
          page.items.map((t) => t.key),
        ),
      );
      const ops: WriteOp[] = page.items.flatMap((t, i) =>
        sources[i] === null ? [{ type: 'delete' as const, key: t.key, ifRev: t.rev }] : [],
      );
      if (ops.length > 0) {
        const results = await io.retrying('write', () => target.write(ops));
        removed += results.filter((r) => r.ok).length;
      }
      cursor = page.cursor;
    } while (cursor !== null && io.signal?.aborted !== true);
    return removed;
  }
}
