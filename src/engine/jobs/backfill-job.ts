/**
 * What the two backfill jobs share (backfill-in-place.ts, backfill-copy.ts): they walk the
 * source collection's ranges under the migration's own partitions (key `<migration id>`), send
 * documents whose up() throws to the dead letters, and stop when a rollback starts.
 *
 * Rules:
 * - a document whose up() throws goes to the dead letters with its error and version; its batch
 *   goes on; so does a stored document the store cannot read (ScanPage.unreadable: not JSON, a
 *   JSON array), naming its key, never transformed nor written; `--retry-dead` transforms the dead letters again and removes the ones that succeed
 *   (or whose document is gone);
 * - a backfill worker stops before its next batch once the status is rolling-back or rolled-back
 *   (it must not fight the rollback); its leases are released;
 * - the dead letters are counted again when this process changed them or every 10 s (other
 *   workers' additions): a count is a scan of the collection on some stores (Redis), too much to
 *   pay every second.
 */
import type { Migration } from '../../migration/migration.js';
import type { ChangeLog } from '../../observe/change-log.js';
import { MigrationStatus, type CatalogEntry } from '../../state/catalog.js';
import { DeadLetters, type DeadLetter } from '../../state/dead-letters.js';
import {
  ZERO_COUNTS,
  type PartitionCounts,
  type PartitionState,
  type PlanState,
} from '../../state/partitions.js';
import type {
  Collection,
  Range,
  ScanPage,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../../store/contract.js';
import { UnreadableDocumentError } from '../../store/store-errors.js';
import type { EngineContext } from '../context.js';
import { JobPass, type BatchIo, type Job, type PartitionWork } from '../runner/job.js';
import { estimatedTotal } from '../runner/progress.js';
import { splitUnreadable, withUnreadable } from './unreadable-items.js';
import { writeFitting } from './write-fitting.js';

/** How often the dead letters are counted when this process did not change them. */
const DEAD_RECOUNT_MS = 10_000;

export type NewDeadLetter = Omit<DeadLetter, 'attempts'>;

/** What one `--retry-dead` pass did (this run's numbers, not the backfill's totals). */
export interface RetryDeadSummary {
  /** dead letters taken up again */
  retried: number;
  /** transformed and written now (or found already at the target version): left the dead letters */
  fixed: number;
  /** their document was deleted meanwhile: left the dead letters */
  gone: number;
  /** failed again: still dead letters */
  stillDead: number;
}

/**
 * What a backfill job checks before saying "backfilled" (the seam for a final sweep: documents
 * left at the old version). `left` > 0 makes the run end `incomplete` (exit 1) with `message`.
 */
export interface EndCheck {
  left: number;
  message: string;
}

export abstract class BackfillJob implements Job {
  readonly pass = JobPass.backfill;
  readonly migration: string;
  readonly key: string;
  protected readonly m: Migration;
  /** the collection walked (the migration's) */
  readonly source: Collection;
  /** the collection written: the source in place, the target side by side */
  abstract readonly destination: Collection;
  /** `--log-changes`: the field-level change log of every batch (observe/change-log.ts) */
  changes: ChangeLog | undefined;
  readonly #dead: DeadLetters;
  #deadCount = 0;
  #deadCountedAt = -Infinity;
  #deadDirty = true;

  constructor(ctx: EngineContext, m: Migration) {
    this.m = m;
    this.migration = m.id;
    this.key = m.id;
    this.source = ctx.store.collection(m.collection);
    this.#dead = new DeadLetters(ctx.stateStore, m.id);
  }

  /** Transform a set of documents and write them where they go; returns the counts. */
  abstract process(
    items: readonly StoredDoc[],
    io: BatchIo,
    deadKeys?: Set<string>,
  ): Promise<Partial<PartitionCounts>>;

  /** The migration's dead letters. */
  protected get dead(): DeadLetters {
    return this.#dead;
  }

  /** the run saw a walk restarted or a store call retried (final-sweep.ts `disturbs`) */
  disturbed = false;

  /** The check before "backfilled" (none by default). */
  endCheck?(io: BatchIo): Promise<EndCheck>;

  /** The documents to go through (for the ETA): the store's estimate where it has one. */
  count(): Promise<number> {
    return estimatedTotal(this.source);
  }

  async plan(n: number): Promise<{ ranges: Range[] }> {
    return { ranges: await this.source.split(n) };
  }

  /** The backfill's plan is replaced by the operation (a sweep after "backfilled"), never here. */
  restartPlan(_plan?: PlanState): boolean {
    return false;
  }

  /** A page; the documents it could not read ride along in `items`, marked (unreadable-items.ts). */
  async scan(range: Range, cursor: string | null, limit: number): Promise<ScanPage> {
    return withUnreadable(await this.source.scan({ range, cursor, limit }));
  }

  /**
   * A batch: documents that could not be read are dead letters naming their key; the rest go on.
   * With a change log (`--log-changes`), what the batch wrote is logged.
   */
  open(partition?: PartitionState): PartitionWork {
    const changes = this.changes;
    return {
      batch: async (items, io) => {
        changes?.begin(items);
        const { readable, unreadable } = splitUnreadable(items);
        let counts = await this.process(unreadable.length === 0 ? items : readable, io);
        if (unreadable.length > 0) {
          const errors = await this.addDead(
            unreadable.map((u) => this.unreadableLetter(u.key, u.reason)),
            io,
          );
          counts = { ...counts, errors: (counts.errors ?? 0) + errors };
        }
        changes?.end(items, partition?.id);
        return counts;
      },
    };
  }

  /** A dead letter for a stored document that cannot be read. */
  protected unreadableLetter(key: string, reason: string): NewDeadLetter {
    return {
      key,
      error: `the stored document cannot be read (${reason}); it was not transformed. Repair or delete it, then run backfill --retry-dead`,
      version: this.m.from,
      at: Date.now(),
    };
  }

  /**
   * getMany, and the keys whose document cannot be read (read one by one once a batch read
   * meets one: the store names only the first).
   */
  protected async readMany(
    keys: readonly string[],
    io: BatchIo,
  ): Promise<{ docs: StoredDoc[]; unreadable: NewDeadLetter[] }> {
    try {
      const all = await io.retrying('getMany', () => this.source.getMany(keys));
      return { docs: all.filter((s): s is StoredDoc => s !== null), unreadable: [] };
    } catch (err) {
      if (!(err instanceof UnreadableDocumentError)) throw err;
    }
    const docs: StoredDoc[] = [];
    const unreadable: NewDeadLetter[] = [];
    for (const key of keys) {
      try {
        const d = await io.retrying('get', () => this.source.get(key));
        if (d !== null) docs.push(d);
      } catch (err) {
        if (!(err instanceof UnreadableDocumentError)) throw err;
        unreadable.push(this.unreadableLetter(key, err.reason));
      }
    }
    return { docs, unreadable };
  }

  onControl(entry: CatalogEntry | null): string | undefined {
    // a rollback started: this worker stops (its leases are released), it must not fight it
    if (
      entry !== null &&
      (entry.status === MigrationStatus.rollingBack || entry.status === MigrationStatus.rolledBack)
    )
      return `a rollback of ${this.m.id} started; this backfill stopped`;
    return undefined;
  }

  async progressExtra(): Promise<{ deadLetters: number }> {
    if (this.#deadDirty || performance.now() - this.#deadCountedAt > DEAD_RECOUNT_MS) {
      this.#deadDirty = false;
      this.#deadCount = await this.#dead.count();
      this.#deadCountedAt = performance.now();
    }
    return { deadLetters: this.#deadCount };
  }

  /** A dead letter for a document whose up() threw. */
  protected deadLetter(item: StoredDoc, err: unknown): NewDeadLetter {
    return {
      key: item.key,
      error: (err as Error).message,
      version: this.m.versionOf(item.doc),
      at: Date.now(),
    };
  }

  /** A batch write, its latency told to the runner (for the p99 guard). */
  protected async timed<T>(io: BatchIo, write: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await write();
    io.writeLatency(performance.now() - started);
    return result;
  }

  /**
   * Write a batch; a document too large for the store after up() becomes a dead letter naming its
   * key and size and the rest is written (write-fitting.ts).
   */
  protected fitting(
    ops: readonly WriteOp[],
    write: (ops: WriteOp[]) => Promise<WriteResult[]>,
    io: BatchIo,
    counts: PartitionCounts,
    deadKeys?: Set<string>,
  ): Promise<WriteResult[]> {
    const written = writeFitting(ops, write, async (err) => {
      const d = { key: err.key, error: err.message, version: this.m.from, at: Date.now() };
      counts.errors += await this.addDead([d], io, deadKeys);
    });
    return this.changes === undefined ? written : written.then((r) => this.changes!.saw(ops, r));
  }

  /** Record dead letters (events too); returns how many. */
  protected async addDead(
    letters: readonly NewDeadLetter[],
    io: BatchIo,
    deadKeys?: Set<string>,
    announce = true,
  ): Promise<number> {
    if (letters.length === 0) return 0;
    await io.retrying('dead letters', () => this.#dead.add(letters));
    // after the write: a progress report counting meanwhile must not cache the count before it
    this.#deadDirty = true;
    for (const d of letters) {
      deadKeys?.add(d.key);
      if (announce) io.emit({ type: 'dead-letter', key: d.key, error: d.error });
    }
    return letters.length;
  }

  /**
   * `--retry-dead`: transform the dead letters again; the keys that now succeed (or whose document
   * is gone) leave the dead letters. The keys are listed first: the pass removes as it goes.
   */
  async retryDeadLetters(io: BatchIo, batchSize: number): Promise<RetryDeadSummary> {
    const done: RetryDeadSummary = { retried: 0, fixed: 0, gone: 0, stillDead: 0 };
    const batches: string[][] = [];
    for await (const page of this.#dead.all(batchSize)) batches.push(page.map((d) => d.key));
    for (const keys of batches) {
      if (io.signal?.aborted === true) return done;
      const { docs, unreadable } = await this.readMany(keys, io);
      const failing = new Set<string>();
      await this.addDead(unreadable, io, failing, false);
      const counts = await this.process(docs, io, failing);
      // an unreadable document is still dead (in `failing`), not gone
      done.retried += keys.length;
      done.gone += keys.length - docs.length - unreadable.length;
      done.stillDead += failing.size;
      done.fixed += docs.length + unreadable.length - failing.size;
      await io.retrying('dead letters', () =>
        this.#dead.remove(keys.filter((k) => !failing.has(k))),
      );
      this.#deadDirty = true;
      io.emit({
        type: 'batch',
        partition: 'dead-letters',
        counts: { ...ZERO_COUNTS, ...counts, scanned: docs.length },
        latencyMs: 0,
      });
    }
    return done;
  }
}
