/**
 * The backfill: transform every document of a collection from `from` to `to`, in place,
 * partitioned, leased, checkpointed, throttled and safe against concurrent writers.
 *
 * Resume rules (what makes kill -9 at any instant harmless):
 * 1. Partitions come from `split(n)` once per run (state/partitions.ts); each is leased by one
 *    worker at a time; a dead worker's partitions are taken over (same host: at once; else after
 *    the lease TTL).
 * 2. A batch is: scan a page after the checkpoint cursor -> transform -> journal before-images
 *    (write-ahead) -> conditional data writes -> checkpoint the cursor. A worker killed anywhere
 *    in between resumes at the last checkpoint and redoes at most that one batch.
 * 3. Documents already at `to` are skipped, so a redone batch transforms nothing twice.
 * 4. Every data write is conditional on the rev that was read. A conflict (the application wrote
 *    the document meanwhile) re-reads and re-transforms that document; a stale transform never
 *    overwrites a newer write. A write whose acknowledgement was lost is retried the same way:
 *    it conflicts (the rev moved), the re-read finds the document at `to`, and it is skipped.
 * 5. The checkpoint write is conditional on the partition document's rev (the lease): a worker
 *    whose lease was taken over stops at its next checkpoint (fencing).
 * 6. Pause is a flag in the catalog entry, read before every batch by every worker.
 */
import { errorMessage, InputError, SwitchyardError, UsageError } from '../core/errors.js';
import { contentHash, toStorageJSON, type Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { openStore } from '../store/open-store.js';
import { sideBySideState, Stage } from './stages.js';
import { catchupStarted } from './catchup.js';
import { DeadLetters } from '../state/dead-letters.js';
import { Journal, type JournalEntry } from '../state/journal.js';
import { whyJournalNeeded } from '../migration/journal-rule.js';
import {
  defaultWorker,
  LeaseLostError,
  Partitions,
  processAlive,
  ZERO_COUNTS,
  type Lease,
  type PartitionCounts,
  type WorkerIdentity,
} from '../state/partitions.js';
import type { Collection, Store, StoredDoc, WriteOp, WriteResult } from '../store/contract.js';
import { isCursorInvalidated } from '../store/store-errors.js';
import { writeFitting } from './write-fitting.js';
import {
  capacityBudget,
  PassCapacity,
  type CapacityLimit,
  type CapacityProgress,
} from './capacity.js';
import { checkGuards, type GuardTrip, type Guards } from './guards.js';
import type { EngineContext } from './context.js';
import { ProgressMeter, type ProgressSnapshot } from './progress.js';
import { rollback, type RollbackResult } from './rollback.js';
import { sleep, Throttle } from './throttle.js';
import { retryStoreCall } from './retry.js';
import { recordMigrationSchemas } from '../schema/record-schemas.js';

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_PARTITIONS = 16;
/** how long a side-by-side backfill waits after the stage became dual-write (2 refresh intervals) */
export const DEFAULT_STAGE_SETTLE_MS = 2000;
/** how many times a conflicting document is re-read and re-transformed within one batch */
const MAX_CONFLICT_ROUNDS = 10;

export interface BackfillControl {
  paused: boolean;
  reason?: string;
  by?: string;
  rate?: number;
  batchSize?: number;
}

export type BackfillContext = EngineContext;

export interface BackfillOptions {
  batchSize?: number;
  /** partitions this process works on at once */
  concurrency?: number;
  /** documents per second for this process (0 or absent: unlimited) */
  rate?: number;
  /** read / write capacity units per second for this process, or a % of the tables' provisioned ones (capacity.ts) */
  maxRcu?: CapacityLimit;
  maxWcu?: CapacityLimit;
  /** how many partitions to split the collection into (first run only) */
  partitions?: number;
  workerId?: string;
  /** write before-images to the undo journal (default true; false only for exactly invertible migrations) */
  journal?: boolean;
  /** limits checked after every batch; a trip pauses the migration (see guards.ts) */
  guards?: Guards;
  /** when a guard trips, roll the migration back (instead of only pausing it) */
  autoRollback?: boolean;
  /** process only the dead letters, and remove the ones that succeed */
  retryDead?: boolean;
  leaseTtlMs?: number;
  /** accept a migration file changed since it started */
  force?: boolean;
  reason?: string;
  signal?: AbortSignal;
  onEvent?: (event: BackfillEvent) => void;
  /** side by side: how long after the stage became dual-write the copy may start (default 2000 ms) */
  stageSettleMs?: number;
  /** how often progress is aggregated and published (ms, default 1000) */
  progressIntervalMs?: number;
}

export interface BackfillProgress extends ProgressSnapshot, PartitionCounts {
  partitions: number;
  partitionsDone: number;
  /** workers holding a live lease */
  workers: string[];
  deadLetters: number;
  throttle: {
    rate: number;
    effectiveRate: number;
    factor: number;
    batchSize: number;
    concurrency: number;
  };
  /** capacity units consumed by this process and its budget (stores that meter them: DynamoDB) */
  capacity?: CapacityProgress;
  paused: boolean;
}

export type BackfillEvent =
  | { type: 'start'; migration: string; worker: string; partitions: number; total: number }
  | {
      type: 'lease';
      partition: string;
      token: number;
      /** set when another worker held the partition and let its lease lapse (died or stalled) */
      takenOverFrom?: {
        worker: string;
        host: string | null;
        pid: number | null;
        expiresAt: number;
      };
    }
  | { type: 'lease-lost'; partition: string }
  | { type: 'batch'; partition: string; counts: PartitionCounts; latencyMs: number }
  | { type: 'dead-letter'; key: string; error: string }
  | {
      type: 'guard-trip';
      trip: GuardTrip;
      autoRollback: boolean;
      counts: { scanned: number; errors: number; conflicts: number; deadLetters: number };
    }
  | { type: 'retry'; error: string; attempt: number; delayMs: number }
  | { type: 'paused'; reason: string }
  | { type: 'resumed' }
  | { type: 'progress'; progress: BackfillProgress }
  | { type: 'done'; result: BackfillResult };

export type BackfillOutcome =
  /** every partition is done: the migration is backfilled */
  | 'backfilled'
  /** a guard tripped: the migration is paused */
  | 'guard-tripped'
  /** a guard tripped and the migration was rolled back (autoRollback) */
  | 'rolled-back'
  /** stopped by the signal; run again to resume */
  | 'aborted';

export interface BackfillResult {
  migration: string;
  outcome: BackfillOutcome;
  message: string;
  progress: BackfillProgress;
  /** the guard that tripped, if one did */
  trip?: GuardTrip;
  /** the rollback that followed, with autoRollback */
  rollback?: RollbackResult;
}

/** A backfill that cannot run (wrong status, no journal for a lossy migration, ...). Nothing was changed. */
export class BackfillRefusedError extends InputError {
  override readonly code = 'E_BACKFILL_REFUSED';
}

export async function backfill(
  ctx: BackfillContext,
  migration: Migration,
  options: BackfillOptions = {},
): Promise<BackfillResult> {
  return new BackfillRun(ctx, migration, options).run();
}

class BackfillRun {
  readonly #ctx: BackfillContext;
  readonly #m: Migration;
  readonly #o: BackfillOptions;
  readonly #source: Collection;
  /** where transformed documents go: the source (in place) or the target (side by side) */
  #dest: Collection;
  /** side by side: the stage, as of the last control read (decides what #copy may overwrite) */
  #sbsStage: Stage | undefined;
  /** a target store this run opened (side by side, `target.store`), closed at the end */
  #targetStore: Store | undefined;
  readonly #partitions: Partitions;
  readonly #journal: Journal | undefined;
  readonly #dead: DeadLetters;
  readonly #worker: WorkerIdentity;
  readonly #throttle: Throttle;
  #batchSize: number;
  readonly #concurrency: number;
  #control: BackfillControl = { paused: false };
  #controlReadAt = 0;
  #pausedAnnounced = false;
  #stop: BackfillOutcome | undefined;
  #stopMessage = '';
  #trip: GuardTrip | undefined;
  /** this worker's last 100 batch write latencies, ms (for the p99 guard) */
  readonly #writeLatencies: number[] = [];
  #meter: ProgressMeter | undefined;
  #capacity: PassCapacity | undefined;
  #total = 0;
  #partitionIds: string[] = [];

  constructor(ctx: BackfillContext, migration: Migration, options: BackfillOptions) {
    this.#ctx = ctx;
    this.#m = migration;
    this.#o = options;
    this.#source = ctx.store.collection(migration.collection);
    this.#dest = this.#source;
    this.#partitions = new Partitions(
      ctx.stateStore,
      options.leaseTtlMs !== undefined ? { leaseTtlMs: options.leaseTtlMs } : {},
    );
    // side by side the source is never written: nothing to journal (rollback steps the stage back)
    this.#journal =
      options.journal === false || migration.kind === 'side-by-side'
        ? undefined
        : new Journal(ctx.stateStore, migration.id);
    this.#dead = new DeadLetters(ctx.stateStore, migration.id);
    this.#worker = defaultWorker(options.workerId);
    this.#throttle = new Throttle({ rate: options.rate ?? 0 });
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  }

  #aborted(): boolean {
    return this.#o.signal?.aborted === true;
  }

  #emit(event: BackfillEvent): void {
    this.#o.onEvent?.(event);
  }

  async run(): Promise<BackfillResult> {
    const m = this.#m;
    await this.#preflight();
    if (m.kind === 'side-by-side') await this.#checkStage();
    if (m.kind === 'side-by-side') await this.#openTarget();
    let entry: CatalogEntry;
    try {
      // a capacity budget that cannot be honoured is refused before anything is written
      this.#throttle.setCapacity(await capacityBudget(this.#o, this.#source, this.#dest));
      this.#capacity = new PassCapacity(this.#source, this.#dest);
      entry = await this.#start();
    } catch (err) {
      await this.#targetStore?.close();
      throw err;
    }
    this.#partitionIds = await this.#partitions.ensurePlan(m.id, () =>
      this.#retrying('split', () => this.#source.split(this.#o.partitions ?? DEFAULT_PARTITIONS)),
    );
    this.#total =
      (entry.progress?.total as number | undefined) ??
      (await this.#retrying('count', () => this.#source.count()));
    this.#meter = new ProgressMeter(this.#total);
    this.#emit({
      type: 'start',
      migration: m.id,
      worker: this.#worker.id,
      partitions: this.#partitionIds.length,
      total: this.#total,
    });

    const reporter = this.#startReporter();
    try {
      if (this.#o.retryDead === true) await this.#retryDeadLetters();
      else
        await Promise.all(
          Array.from({ length: Math.max(1, this.#concurrency) }, () => this.#lane()),
        );
    } finally {
      clearInterval(reporter);
    }
    try {
      return await this.#finish();
    } finally {
      await this.#targetStore?.close();
    }
  }

  /**
   * Side by side: the copy goes to the target collection (on another store when the migration
   * names one), and only once the application writes both sides (stage dual-write or later) or
   * catch-up follows the source's change feed: otherwise a source document changed after it was
   * copied would never reach the target.
   */
  async #checkStage(): Promise<void> {
    const m = this.#m;
    const state = sideBySideState(await this.#ctx.catalog.get(m.id));
    const stage = state.stage;
    if (stage !== Stage.off && stage !== Stage.complete) {
      // applications read the stage every refresh interval (1 s by default): one that has not
      // seen dual-write yet writes the source only, and a copy made before its write would stay
      // stale. Let them all catch up first.
      const since = state.changedAt !== undefined ? Date.parse(state.changedAt) : 0;
      const wait = since + (this.#o.stageSettleMs ?? DEFAULT_STAGE_SETTLE_MS) - Date.now();
      if (stage === Stage.dualWrite && wait > 0) await sleep(wait, this.#o.signal);
      return;
    }
    // catch-up from the change feed (catchup.ts) carries every change made after its start to
    // the target, like dual writes do: with it started, the stage may stay off
    if (stage === Stage.off && (await catchupStarted(this.#ctx.stateStore, m.id))) return;
    const why =
      stage === Stage.off
        ? `migration ${m.id} is side by side and its stage is off: start the application's dual writes first (switchyard stage ${m.id} dual-write), or catch-up from the source's change feed (switchyard catchup ${m.id}), then backfill the rest`
        : `migration ${m.id} is complete`;
    await this.#ctx.audit.append({
      actor: this.#ctx.actor,
      command: 'backfill',
      migration: m.id,
      outcome: `refused: ${why}`,
    });
    throw new BackfillRefusedError(why, { field: 'stage' });
  }

  async #openTarget(): Promise<void> {
    const m = this.#m;
    const target = m.target!;
    if (target.store !== undefined) this.#targetStore = await openStore(target.store);
    this.#dest = (this.#targetStore ?? this.#ctx.store).collection(target.collection);
  }

  /** Refuse what cannot run, before anything is written. */
  async #preflight(): Promise<void> {
    const m = this.#m;
    const where = { ...(m.file !== undefined ? { file: m.file } : {}) };
    if (m.isEmpty)
      throw new BackfillRefusedError(`migration ${m.id} has no operations and no up() yet`, {
        ...where,
        field: 'operations',
      });
    const needsJournal = this.#o.journal === false ? whyJournalNeeded(m) : undefined;
    if (needsJournal) throw new BackfillRefusedError(needsJournal, { field: '--no-journal' });
    for (const [name, v] of [
      ['batchSize', this.#batchSize],
      ['concurrency', this.#concurrency],
      ['partitions', this.#o.partitions ?? 1],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new UsageError(`${name} must be a positive integer, got ${v}`, { field: name });
    }
  }

  /** Register, check the status, mark backfilling, audit. */
  async #start(): Promise<CatalogEntry> {
    const m = this.#m;
    const { catalog, audit, actor } = this.#ctx;
    await catalog.register(
      {
        id: m.id,
        collection: m.collection,
        kind: m.kind,
        from: m.from,
        to: m.to,
        checksum: m.checksum,
        ...(m.file !== undefined ? { file: m.file } : {}),
      },
      { force: this.#o.force === true },
    );
    await recordMigrationSchemas(this.#ctx, m, (w, f) => this.#retrying(w, f)); // never throws
    const params = {
      batchSize: this.#batchSize,
      concurrency: this.#concurrency,
      rate: this.#o.rate ?? null,
      partitions: this.#o.partitions ?? DEFAULT_PARTITIONS,
      journal: this.#journal !== undefined,
      worker: this.#worker.id,
      retryDead: this.#o.retryDead === true,
    };
    let refused: string | undefined;
    let sweep = false;
    const entry = await catalog.update(m.id, (e) => {
      refused = undefined;
      if (e.status === MigrationStatus.complete) refused = `migration ${m.id} is complete`;
      else if (e.status === MigrationStatus.rollingBack)
        refused = `migration ${m.id} is being rolled back; let the rollback finish first`;
      if (refused !== undefined) return e;
      const journaled = (e.journal as boolean | undefined) ?? this.#journal !== undefined;
      if (
        journaled &&
        this.#journal === undefined &&
        e.status !== MigrationStatus.pending &&
        e.status !== MigrationStatus.rolledBack
      ) {
        refused = `migration ${m.id} started with the journal; it cannot continue without it`;
        return e;
      }
      // run again after it finished: a new sweep over everything (documents already at `to` are
      // skipped cheaply), which picks up what the application wrote in the old shape since
      sweep =
        (e.status === MigrationStatus.backfilled || e.status === MigrationStatus.verified) &&
        this.#o.retryDead !== true;
      const control = {
        ...((e.control as BackfillControl | undefined) ?? { paused: false }),
        paused: false,
      };
      return {
        ...e,
        status: MigrationStatus.backfilling,
        ...(sweep ? { progress: undefined } : {}),
        journal: this.#journal !== undefined,
        control,
        startedAt: e.startedAt ?? new Date().toISOString(),
      };
    });
    if (refused !== undefined) {
      await audit.append({
        actor,
        command: 'backfill',
        migration: m.id,
        params,
        ...(this.#o.reason !== undefined ? { reason: this.#o.reason } : {}),
        outcome: `refused: ${refused}`,
      });
      throw new BackfillRefusedError(refused);
    }
    if (sweep) await this.#partitions.clear(m.id);
    this.#control = entry.control as BackfillControl;
    if (this.#control.rate !== undefined && this.#o.rate === undefined)
      this.#throttle.setRate(this.#control.rate);
    await audit.append({
      actor,
      command: 'backfill',
      migration: m.id,
      params,
      ...(this.#o.reason !== undefined ? { reason: this.#o.reason } : {}),
      outcome: 'started',
    });
    return entry;
  }

  /** One lane: take a free partition, work it to the end, take the next, until all are done. */
  async #lane(): Promise<void> {
    for (;;) {
      if (this.#stop !== undefined || this.#aborted()) return;
      const lease = await this.#acquireAny();
      if (lease === 'all-done') return;
      if (lease === null) {
        // every open partition is leased by a live worker: wait, in case one dies
        await sleep(Math.min(1000, this.#partitions.ttlMs / 3), this.#o.signal);
        continue;
      }
      await this.#work(lease);
    }
  }

  #claiming = new Set<string>();

  async #acquireAny(): Promise<Lease | null | 'all-done'> {
    const states = await this.#retrying('partitions', () => this.#partitions.list(this.#m.id));
    const listedAt = Date.now();
    const open = states.filter((p) => !p.done);
    if (open.length === 0) return 'all-done';
    // prefer partitions nobody holds, then expired ones
    for (const p of open.sort(
      (a, b) => Number(a.owner !== null) - Number(b.owner !== null) || a.index - b.index,
    )) {
      if (this.#claiming.has(p.id)) continue;
      this.#claiming.add(p.id);
      try {
        const lease = await this.#retrying('lease', () =>
          this.#partitions.tryAcquire(p.id, this.#worker),
        );
        if (lease !== null) {
          const w = this.#worker;
          // held by another worker whose lease had lapsed or whose process is gone (not one that
          // released it just now): that worker died or stalled
          const previous =
            p.owner !== null &&
            !(p.owner === w.id && p.host === w.host && p.pid === w.pid) &&
            (p.expiresAt <= listedAt ||
              (p.host === w.host && p.pid !== null && !processAlive(p.pid)))
              ? { worker: p.owner, host: p.host, pid: p.pid, expiresAt: Number(p.expiresAt) }
              : undefined;
          this.#emit({
            type: 'lease',
            partition: p.id,
            token: lease.state.token,
            ...(previous !== undefined ? { takenOverFrom: previous } : {}),
          });
          return lease;
        }
      } finally {
        this.#claiming.delete(p.id);
      }
    }
    return null;
  }

  async #work(initial: Lease): Promise<void> {
    let lease = initial;
    this.#claiming.add(lease.state.id);
    try {
      while (!lease.state.done) {
        if (this.#aborted()) {
          this.#stop ??= 'aborted';
          await this.#partitions.release(lease).catch(() => undefined);
          return;
        }
        if (this.#stop !== undefined) {
          await this.#partitions.release(lease).catch(() => undefined);
          return;
        }
        lease = await this.#waitWhilePaused(lease);
        if (this.#stop !== undefined || this.#aborted()) continue;
        lease = await this.#batch(lease);
      }
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.#emit({ type: 'lease-lost', partition: lease.state.id });
        return;
      }
      throw err;
    } finally {
      this.#claiming.delete(lease.state.id);
    }
  }

  /** Read the control flags before every batch; keep the lease alive while paused. */
  async #waitWhilePaused(lease: Lease): Promise<Lease> {
    for (;;) {
      await this.#readControl();
      if (!this.#control.paused) {
        if (this.#pausedAnnounced) {
          this.#pausedAnnounced = false;
          this.#emit({ type: 'resumed' });
        }
        return lease;
      }
      if (!this.#pausedAnnounced) {
        this.#pausedAnnounced = true;
        this.#emit({ type: 'paused', reason: this.#control.reason ?? 'paused' });
      }
      if (this.#aborted() || this.#stop !== undefined) return lease;
      lease = await this.#retrying('checkpoint', () => this.#partitions.checkpoint(lease, {}));
      await sleep(500, this.#o.signal);
    }
  }

  async #readControl(force = false): Promise<void> {
    // lanes of one process share a read that is under 20 ms old (one batch cannot start on a stale flag)
    const now = Date.now();
    if (!force && now - this.#controlReadAt < 20) return;
    this.#controlReadAt = now;
    const entry = await this.#retrying('catalog', () => this.#ctx.catalog.get(this.#m.id));
    if (
      entry !== null &&
      (entry.status === MigrationStatus.rollingBack || entry.status === MigrationStatus.rolledBack)
    ) {
      // a rollback started: this worker stops (its leases are released), it must not fight it
      this.#stop ??= 'aborted';
      this.#stopMessage = `a rollback of ${this.#m.id} started; this backfill stopped`;
    }
    if (this.#m.kind === 'side-by-side') this.#sbsStage = sideBySideState(entry).stage;
    const control = (entry?.control as BackfillControl | undefined) ?? { paused: false };
    this.#control = control;
    if (this.#o.rate === undefined || control.rate !== undefined) {
      const rate = control.rate ?? this.#o.rate ?? 0;
      if (rate !== this.#throttle.rate) this.#throttle.setRate(rate);
    }
    if (control.batchSize !== undefined) this.#batchSize = control.batchSize;
  }

  async #batch(lease: Lease): Promise<Lease> {
    const started = performance.now();
    const scan = (cursor: string | null) =>
      this.#source.scan({ range: lease.state.range, cursor, limit: this.#batchSize });
    const page = await this.#retrying('scan', () =>
      scan(lease.state.cursor).catch((err: unknown) => {
        // the store refused the cursor (a Redis server restarted): walk the partition again (#21)
        if (!isCursorInvalidated(err) || lease.state.cursor === null) throw err;
        this.#emit({ type: 'retry', error: `scan: ${errorMessage(err)}`, attempt: 0, delayMs: 0 });
        return scan(null);
      }),
    );
    // the rate limiter's wait is not store latency: keep it out of the back-off's measurement
    const waitStarted = performance.now();
    await this.#throttle.take(Math.max(1, page.items.length), this.#o.signal);
    const waited = performance.now() - waitStarted;
    const delta = await this.#process(page.items);
    this.#throttle.charge(this.#capacity!.totals());
    const counts = addCounts(lease.state.counts, delta);
    const last = page.items[page.items.length - 1];
    const next = await this.#retrying('checkpoint', () =>
      this.#partitions.checkpoint(lease, {
        cursor: page.cursor ?? (last !== undefined ? last.key : lease.state.cursor),
        done: page.cursor === null,
        counts,
      }),
    );
    const latencyMs = performance.now() - started - waited;
    this.#throttle.observe(latencyMs, 'ok');
    this.#emit({ type: 'batch', partition: lease.state.id, counts: delta, latencyMs });
    await this.#checkGuards();
    return next;
  }

  /**
   * Transform and write a set of documents, re-reading and re-transforming the ones that
   * conflict. Returns what happened, as counts.
   */
  async #process(items: readonly StoredDoc[], deadKeys?: Set<string>): Promise<PartitionCounts> {
    if (this.#dest !== this.#source) return this.#copy(items, deadKeys);
    const counts: PartitionCounts = { ...ZERO_COUNTS, scanned: items.length };
    let pending: StoredDoc[] = [...items];
    for (let round = 0; pending.length > 0; round++) {
      const ops: WriteOp[] = [];
      const journal: JournalEntry[] = [];
      const dead: { key: string; error: string; version: number; at: number }[] = [];
      for (const item of pending) {
        if (this.#m.isMigrated(item.doc)) {
          counts.skipped += 1;
          continue;
        }
        let after: Doc;
        try {
          after = this.#m.up(item.doc);
        } catch (err) {
          dead.push({
            key: item.key,
            error: (err as Error).message,
            version: this.#m.versionOf(item.doc),
            at: Date.now(),
          });
          continue;
        }
        // conditional on the rev read (side by side goes through #copy)
        ops.push({ type: 'put', key: item.key, doc: after, ifRev: item.rev });
        if (this.#journal !== undefined)
          journal.push({
            key: item.key,
            before: item.text ?? toStorageJSON(item.doc),
            afterHash: contentHash(after),
          });
      }
      if (dead.length > 0) {
        this.#deadDirty = true;
        await this.#retrying('dead letters', () => this.#dead.add(dead));
        counts.errors += dead.length;
        for (const d of dead) {
          deadKeys?.add(d.key);
          this.#emit({ type: 'dead-letter', key: d.key, error: d.error });
        }
      }
      if (ops.length === 0) break;
      const writeStarted = performance.now();
      const results = await this.#writeFitting(
        ops,
        (fit) =>
          this.#write(
            fit,
            journal.filter((e) => fit.some((op) => op.key === e.key)),
          ),
        counts,
        deadKeys,
      );
      this.#writeLatencies.push(performance.now() - writeStarted);
      if (this.#writeLatencies.length > 100) this.#writeLatencies.shift();
      const conflicted: string[] = [];
      for (const r of results) {
        if (r.ok) counts.migrated += 1;
        else conflicted.push(r.key);
      }
      counts.conflicts += conflicted.length;
      if (conflicted.length === 0) break;
      if (round >= MAX_CONFLICT_ROUNDS) {
        const stuck = conflicted.map((key) => ({
          key,
          error: `kept changing: ${MAX_CONFLICT_ROUNDS} conflicting writes in a row`,
          version: this.#m.from,
          at: Date.now(),
        }));
        this.#deadDirty = true;
        await this.#retrying('dead letters', () => this.#dead.add(stuck));
        counts.errors += stuck.length;
        for (const d of stuck) deadKeys?.add(d.key);
        break;
      }
      const reread = await this.#retrying('getMany', () => this.#source.getMany(conflicted));
      pending = reread.filter((s): s is StoredDoc => s !== null);
    }
    return counts;
  }

  /**
   * Side by side: make the target hold up(source) for these keys, never overwriting a write of
   * the application's. The target is read FIRST, then the source again, and every write is
   * conditional on the target's rev (absent: must still be absent). The application writes the
   * source before the target (old side authoritative), so any write it makes after our target
   * read changes that rev and our write loses; one made before our source read is what we copy.
   * - in dual-write and shadow (the old side answers and is authoritative for every key) a target
   *   document that differs from up(source) is overwritten, and one whose source is gone is
   *   deleted: this repairs a target left stale while the stage was off (after a rollback to off)
   *   or by a lost shadow write;
   * - in live and rampdown the new side is authoritative for some or all keys: only missing
   *   target documents are filled; existing ones are the application's and are left alone;
   * - a target that already equals up(source) is not written (counted as skipped), so a rerun is
   *   cheap; a conditional write that loses is skipped too (the application's write is newer).
   */
  async #copy(items: readonly StoredDoc[], deadKeys?: Set<string>): Promise<PartitionCounts> {
    const counts: PartitionCounts = { ...ZERO_COUNTS, scanned: items.length };
    const overwrite = this.#sbsStage === Stage.dualWrite || this.#sbsStage === Stage.shadow;
    const keys = items.map((i) => i.key);
    const targets = await this.#retrying('getMany', () => this.#dest.getMany(keys));
    const sources = overwrite
      ? await this.#retrying('getMany', () => this.#source.getMany(keys))
      : items;
    const ops: WriteOp[] = [];
    const dead: { key: string; error: string; version: number; at: number }[] = [];
    keys.forEach((key, i) => {
      const src = sources[i] ?? null;
      const tgt = targets[i] ?? null;
      if (src === null) {
        if (overwrite && tgt !== null) ops.push({ type: 'delete', key, ifRev: tgt.rev });
        else counts.skipped += 1;
        return;
      }
      if (this.#m.isMigrated(src.doc) || (tgt !== null && !overwrite)) {
        counts.skipped += 1;
        return;
      }
      let after: Doc;
      try {
        after = this.#m.up(src.doc);
      } catch (err) {
        dead.push({
          key,
          error: (err as Error).message,
          version: this.#m.versionOf(src.doc),
          at: Date.now(),
        });
        return;
      }
      if (tgt !== null && contentHash(after) === contentHash(tgt.doc)) {
        counts.skipped += 1;
        return;
      }
      ops.push({ type: 'put', key, doc: after, ifRev: tgt === null ? null : tgt.rev });
    });
    if (dead.length > 0) {
      this.#deadDirty = true;
      await this.#retrying('dead letters', () => this.#dead.add(dead));
      counts.errors += dead.length;
      for (const d of dead) {
        deadKeys?.add(d.key);
        this.#emit({ type: 'dead-letter', key: d.key, error: d.error });
      }
    }
    if (ops.length === 0) return counts;
    const writeStarted = performance.now();
    const results = await this.#writeFitting(
      ops,
      (fit) => this.#retrying('write', () => this.#dest.write(fit)),
      counts,
      deadKeys,
    );
    this.#writeLatencies.push(performance.now() - writeStarted);
    if (this.#writeLatencies.length > 100) this.#writeLatencies.shift();
    for (const r of results) {
      if (r.ok) counts.migrated += 1;
      else counts.skipped += 1; // the application wrote it meanwhile: its write stands
    }
    return counts;
  }

  /**
   * Side by side, in dual-write or shadow, after the copy: delete target documents whose source
   * is gone (the application deleted them while the stage was off). Target read first, then the
   * source, the delete conditional on the target's rev: the same rule as #copy. Returns how many.
   */
  async #sweepTargetExtras(): Promise<number> {
    let removed = 0;
    let cursor: string | null = null;
    do {
      const page = await this.#retrying('scan', () =>
        this.#dest.scan({ cursor, limit: this.#batchSize }),
      );
      const sources = await this.#retrying('getMany', () =>
        this.#source.getMany(page.items.map((t) => t.key)),
      );
      const ops: WriteOp[] = page.items.flatMap((t, i) =>
        sources[i] === null ? [{ type: 'delete' as const, key: t.key, ifRev: t.rev }] : [],
      );
      if (ops.length > 0) {
        const results = await this.#retrying('write', () => this.#dest.write(ops));
        removed += results.filter((r) => r.ok).length;
      }
      cursor = page.cursor;
    } while (cursor !== null && !this.#aborted());
    return removed;
  }

  /** Write, a document too large for the store going to the dead letters (write-fitting.ts). */
  #writeFitting(
    ops: WriteOp[],
    write: (ops: WriteOp[]) => Promise<WriteResult[]>,
    counts: PartitionCounts,
    deadKeys: Set<string> | undefined,
  ): Promise<WriteResult[]> {
    return writeFitting(ops, write, async (err) => {
      const d = { key: err.key, error: err.message, version: this.#m.from, at: Date.now() };
      this.#deadDirty = true;
      await this.#retrying('dead letters', () => this.#dead.add([d]));
      counts.errors += 1;
      deadKeys?.add(d.key);
      this.#emit({ type: 'dead-letter', key: d.key, error: d.error });
    });
  }

  /**
   * Write a batch and its journal entries. Where the state lives in the same store and the store
   * can commit several collections at once, both go in one transaction; otherwise the journal
   * is written first (write-ahead) and the data after.
   */
  async #write(ops: WriteOp[], journal: JournalEntry[]): Promise<WriteResult[]> {
    const j = this.#journal;
    if (j === undefined || journal.length === 0)
      return this.#retrying('write', () => this.#dest.write(ops));
    const { store, stateStore } = this.#ctx;
    if (stateStore === store && store.writeAtomic !== undefined) {
      const batches = [
        { collection: j.collectionName, ops: j.recordOps(journal) },
        { collection: this.#m.collection, ops },
      ];
      const [, data] = await this.#retrying('write', () => store.writeAtomic!(batches));
      return data!;
    }
    await this.#retrying('journal', () => j.record(journal));
    return this.#retrying('write', () => this.#source.write(ops));
  }

  /** Call the store, retrying failures with exponential back-off (and slowing the throttle). */
  #retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryStoreCall(what, fn, {
      throttle: this.#throttle,
      onRetry: (r) => this.#emit({ type: 'retry', ...r }),
      // a lost lease is not transient: this worker must stop writing that partition
      isFatal: (err) => err instanceof LeaseLostError,
    });
  }

  async #retryDeadLetters(): Promise<void> {
    const batches: string[][] = [];
    for await (const page of this.#dead.all(this.#batchSize)) batches.push(page.map((d) => d.key));
    for (const keys of batches) {
      if (this.#aborted()) return;
      const docs = (await this.#retrying('getMany', () => this.#source.getMany(keys))).filter(
        (s): s is StoredDoc => s !== null,
      );
      const failing = new Set<string>();
      const counts = await this.#process(docs, failing);
      // keys that now succeed (or whose document is gone) leave the dead letters
      this.#deadDirty = true;
      await this.#dead.remove(keys.filter((k) => !failing.has(k)));
      this.#emit({ type: 'batch', partition: 'dead-letters', counts, latencyMs: 0 });
    }
  }

  async #checkGuards(): Promise<void> {
    const guards = this.#o.guards;
    if (guards === undefined || this.#stop !== undefined) return;
    const p = await this.#aggregate();
    const trip = checkGuards(guards, {
      scanned: p.scanned,
      errors: p.errors,
      conflicts: p.conflicts,
      deadLetters: p.deadLetters,
      writeLatencies: this.#writeLatencies,
    });
    if (trip === undefined || this.#stop !== undefined) return;
    this.#stop = 'guard-tripped';
    this.#trip = trip;
    this.#stopMessage = `guard tripped: ${trip.message}. The migration is paused${this.#o.autoRollback ? ' and will be rolled back' : ''}; see the dead letters and the audit log, then run backfill again (--retry-dead retries the failures)${this.#o.autoRollback ? '' : ' or roll it back'}.`;
    await this.#ctx.catalog.update(this.#m.id, (e) => ({
      ...e,
      status: MigrationStatus.paused,
      control: {
        ...((e.control as BackfillControl | undefined) ?? {}),
        paused: true,
        reason: `guard ${trip.guard}: ${trip.message}`,
        by: 'guard',
      },
    }));
    await this.#ctx.audit.append({
      actor: this.#ctx.actor,
      command: 'guard.trip',
      migration: this.#m.id,
      params: {
        guard: trip.guard,
        value: trip.value,
        limit: trip.limit,
        scanned: p.scanned,
        errors: p.errors,
        conflicts: p.conflicts,
        deadLetters: p.deadLetters,
      },
      outcome: this.#o.autoRollback ? 'paused; rolling back' : 'paused',
    });
    this.#emit({
      type: 'guard-trip',
      trip,
      autoRollback: this.#o.autoRollback === true,
      counts: {
        scanned: p.scanned,
        errors: p.errors,
        conflicts: p.conflicts,
        deadLetters: p.deadLetters,
      },
    });
  }

  async #aggregate(): Promise<BackfillProgress> {
    const states = await this.#partitions.list(this.#m.id);
    const counts = states.reduce<PartitionCounts>((acc, s) => addCounts(acc, s.counts), {
      ...ZERO_COUNTS,
    });
    const now = Date.now();
    const workers = [
      ...new Set(
        states.filter((s) => s.owner !== null && s.expiresAt > now && !s.done).map((s) => s.owner!),
      ),
    ];
    const done = counts.scanned;
    const total = Math.max(this.#total, done);
    const snap = this.#meter!.snapshot(done);
    const progress: BackfillProgress = {
      ...snap,
      ...counts,
      total,
      etaSeconds: states.length > 0 && states.every((s) => s.done) ? 0 : snap.etaSeconds,
      partitions: states.length,
      partitionsDone: states.filter((s) => s.done).length,
      workers,
      deadLetters: await this.#deadLetterCount(),
      throttle: {
        rate: this.#throttle.rate,
        effectiveRate: Math.round(this.#throttle.effectiveRate),
        factor: Number(this.#throttle.factor.toFixed(3)),
        batchSize: this.#batchSize,
        concurrency: this.#concurrency,
      },
      ...(this.#capacity?.metered ? { capacity: this.#capacity.progress(this.#throttle)! } : {}),
      paused: this.#control.paused,
    };
    return progress;
  }

  #publishing = false;

  #startReporter(): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (this.#publishing) return;
      this.#publishing = true;
      this.#publish()
        .catch(() => undefined)
        .finally(() => {
          this.#publishing = false;
        });
    }, this.#o.progressIntervalMs ?? 1000);
    timer.unref();
    return timer;
  }

  async #publish(): Promise<BackfillProgress> {
    const p = await this.#aggregate();
    const { throttle: _t, workers: _w, ...stored } = p;
    await this.#ctx.catalog.update(this.#m.id, (e) => ({
      ...e,
      progress: { ...stored, workers: p.workers.length, updatedAt: new Date().toISOString() },
    }));
    this.#emit({ type: 'progress', progress: p });
    return p;
  }

  #deadCount = 0;
  #deadCountedAt = -Infinity;
  #deadDirty = true;

  /**
   * The dead letters, counted again when this process changed them or every 10 s (other
   * workers' additions): a count is a scan of the collection on some stores (Redis), too much to
   * pay every second.
   */
  async #deadLetterCount(): Promise<number> {
    if (this.#deadDirty || performance.now() - this.#deadCountedAt > 10_000) {
      this.#deadDirty = false;
      this.#deadCount = await this.#dead.count();
      this.#deadCountedAt = performance.now();
    }
    return this.#deadCount;
  }

  async #finish(): Promise<BackfillResult> {
    const m = this.#m;
    const progress = await this.#publish();
    let outcome: BackfillOutcome;
    let message: string;
    let rolledBack: RollbackResult | undefined;
    if (this.#stop === 'guard-tripped') {
      outcome = 'guard-tripped';
      message = this.#stopMessage;
      if (this.#o.autoRollback === true) {
        rolledBack = await rollback(this.#ctx, m, {
          reason: `auto-rollback: guard ${this.#trip!.guard} tripped: ${this.#trip!.message}`,
        });
        outcome = 'rolled-back';
        message = `guard tripped (${this.#trip!.message}); rolled back: ${rolledBack.restored} restored, ${rolledBack.downcast} turned back with down(), ${rolledBack.conflicts} conflicts kept`;
      }
    } else if (progress.partitionsDone < progress.partitions || this.#aborted()) {
      outcome = 'aborted';
      message =
        this.#stopMessage ||
        `stopped at ${progress.done}/${progress.total}; run backfill again to resume from the checkpoints`;
      await this.#ctx.audit.append({
        actor: this.#ctx.actor,
        command: 'backfill',
        migration: m.id,
        params: { worker: this.#worker.id },
        outcome: `stopped at ${progress.done}/${progress.total}`,
      });
    } else {
      outcome = 'backfilled';
      message = `backfilled ${m.collection}: ${progress.migrated} migrated, ${progress.skipped} already at v${m.to}, ${progress.conflicts} conflicts retried, ${progress.deadLetters} dead letters`;
      if (
        this.#dest !== this.#source &&
        (this.#sbsStage === Stage.dualWrite || this.#sbsStage === Stage.shadow)
      ) {
        const removed = await this.#sweepTargetExtras();
        message = `copied ${m.collection} to ${m.target!.collection}: ${progress.migrated} written, ${progress.skipped} already right or written by the application, ${removed} target documents without a source removed, ${progress.deadLetters} dead letters`;
      }
      let changed = false;
      await this.#ctx.catalog.update(m.id, (e) => {
        changed = e.status === MigrationStatus.backfilling;
        return changed
          ? { ...e, status: MigrationStatus.backfilled, backfilledAt: new Date().toISOString() }
          : e;
      });
      if (changed) {
        await this.#ctx.audit.append({
          actor: this.#ctx.actor,
          command: 'backfill',
          migration: m.id,
          params: {
            migrated: progress.migrated,
            skipped: progress.skipped,
            conflicts: progress.conflicts,
            deadLetters: progress.deadLetters,
          },
          outcome: 'backfilled',
        });
      }
    }
    const result: BackfillResult = {
      migration: m.id,
      outcome,
      message,
      progress,
      ...(this.#trip !== undefined ? { trip: this.#trip } : {}),
      ...(rolledBack !== undefined ? { rollback: rolledBack } : {}),
    };
    this.#emit({ type: 'done', result });
    return result;
  }
}

function addCounts(a: PartitionCounts, b: PartitionCounts): PartitionCounts {
  return {
    scanned: a.scanned + b.scanned,
    migrated: a.migrated + b.migrated,
    skipped: a.skipped + b.skipped,
    conflicts: a.conflicts + b.conflicts,
    errors: a.errors + b.errors,
  };
}

/** Set or clear the pause flag (and the status) of a running or paused backfill. */
export async function setPaused(
  ctx: Pick<BackfillContext, 'catalog' | 'audit' | 'actor'>,
  migrationId: string,
  paused: boolean,
  reason?: string,
): Promise<CatalogEntry> {
  let refused: string | undefined;
  const entry = await ctx.catalog.update(migrationId, (e) => {
    refused = undefined;
    const active = e.status === MigrationStatus.backfilling || e.status === MigrationStatus.paused;
    if (!active) {
      refused = `migration ${migrationId} is ${e.status}: only a backfill that is running or paused can be ${paused ? 'paused' : 'resumed'}`;
      return e;
    }
    const control = {
      ...((e.control as BackfillControl | undefined) ?? {}),
      paused,
      by: ctx.actor,
      ...(reason !== undefined ? { reason } : {}),
    };
    return { ...e, status: paused ? MigrationStatus.paused : MigrationStatus.backfilling, control };
  });
  await ctx.audit.append({
    actor: ctx.actor,
    command: paused ? 'pause' : 'resume',
    migration: migrationId,
    ...(reason !== undefined ? { reason } : {}),
    outcome: refused ? `refused: ${refused}` : 'ok',
  });
  if (refused) throw new BackfillRefusedError(refused);
  return entry;
}

/** Change throughput settings of a running backfill; every worker picks them up within a batch. */
export async function setThrottle(
  ctx: Pick<BackfillContext, 'catalog' | 'audit' | 'actor'>,
  migrationId: string,
  settings: { rate?: number; batchSize?: number },
  reason?: string,
): Promise<CatalogEntry> {
  const entry = await ctx.catalog.update(migrationId, (e) => ({
    ...e,
    control: { ...((e.control as BackfillControl | undefined) ?? { paused: false }), ...settings },
  }));
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'throttle',
    migration: migrationId,
    params: settings,
    ...(reason !== undefined ? { reason } : {}),
    outcome: 'ok',
  });
  return entry;
}

export { SwitchyardError };
