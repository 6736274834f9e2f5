/**
 * The runner: one way to run every long job (backfill, verify, rollback, catch-up) over
 * partitions, so that every job scales out over workers and machines, resumes after kill -9, obeys
 * pause and throttle, and shows its progress the same way. A job (job.ts) gives only what is its
 * own: its ranges, how to read a page, and what to do with it.
 *
 * Resume rules (what makes kill -9 at any instant harmless, for every job):
 * 1. Partitions come from the job's `plan(n)` once per run (state/partitions.ts); each is leased by
 *    one worker at a time; a dead worker's partitions are taken over (same host: at once; else
 *    after the lease TTL). Lanes (`concurrency`) of one process work on different partitions.
 * 2. A batch is: read a page after the cursor -> the job's `batch` -> checkpoint cursor, counts and
 *    the job's `data()` in one conditional write. A worker killed anywhere in between resumes at
 *    the last checkpoint and redoes what came after it (one batch, or `checkpointEveryMs` of
 *    work); each job makes a redone batch harmless (backfill: the version field; verify: its
 *    accumulators are in the checkpoint; rollback: conditional writes and the version field).
 * 3. The checkpoint is conditional on the partition document's rev (the lease): a worker whose
 *    lease was taken over stops working that partition at its next checkpoint (fencing).
 * 4. A scan cursor that lost its meaning (`CursorInvalidatedError`: the Redis server restarted)
 *    is never continued: that partition is checkpointed back to its beginning with its counts and
 *    data reset, a `restart` event says why, and its walk starts over. A partition is done only
 *    when a walk reached its end without that happening.
 * 5. Pause, rate and batch size are read from the catalog entry before every batch by every
 *    worker (control.ts); a paused worker keeps its leases alive and waits.
 * 6. Guards are checked after every batch against the counts of all workers; a trip pauses the
 *    job (in the catalog, audited) and stops this run.
 */
import type { AuditLog } from '../../state/audit-log.js';
import { CatalogConflictError, type Catalog, type CatalogEntry } from '../../state/catalog.js';
import {
  defaultWorker,
  heldBy,
  LeaseLostError,
  takenOverFrom,
  type WorkerIdentity,
} from '../../state/lease.js';
import {
  addCounts,
  Partitions,
  ZERO_COUNTS,
  type Lease,
  type PartitionCounts,
  type PartitionState,
  type PlanState,
} from '../../state/partitions.js';
import type { Store, StoredDoc } from '../../store/contract.js';
import { isCursorInvalidated } from '../../store/store-errors.js';
import { WorkerHeartbeat } from '../../observe/worker-heartbeat.js';
import { controlOf, progressField, withControl, type JobControl } from './control.js';
import { checkGuards, type GuardTrip, type Guards } from './guards.js';
import type { BatchIo, Job, JobProgress, PartitionWork, RunnerEvent } from './job.js';
import { ProgressMeter, type ProgressSnapshot } from './progress.js';
import { retryStoreCall } from './retry.js';
import { sleep, Throttle } from './throttle.js';

export const DEFAULT_BATCH_SIZE = 500;

export interface RunnerContext {
  stateStore: Store;
  catalog: Catalog;
  audit: AuditLog;
  actor: string;
}

export interface RunOptions {
  /** how many partitions to split into (first worker of a run only) */
  partitions: number;
  /** partitions this process works on at once (default 1) */
  concurrency?: number;
  batchSize?: number;
  /** documents per second for this process (0 or absent: unlimited) */
  rate?: number;
  workerId?: string;
  leaseTtlMs?: number;
  signal?: AbortSignal;
  /** limits checked after every batch (guards.ts) */
  guards?: Guards;
  /** said in a guard trip's audit entry and event: the operation rolls back after a trip */
  autoRollback?: boolean;
  /** the documents to go, for the ETA */
  total: () => Promise<number>;
  /** how often progress is aggregated and published (ms, default 1000) */
  progressIntervalMs?: number;
  /** write this worker's heartbeat (throttle, batch latencies) to the state store */
  heartbeats?: boolean;
  onEvent?: (event: RunnerEvent<JobProgress>) => void;
  /** after every checkpoint of this process: the progress as far as it knows */
  onCheckpoint?: (p: ProgressSnapshot) => void;
  /**
   * Instead of working the partitions, run this (the backfill's --retry-dead pass over the dead
   * letters); the plan, control, progress and the summary are as usual.
   */
  instead?: (io: BatchIo, batchSize: number) => Promise<void>;
}

/** What a caller sets for its worker process, the same for every job (the CLI's flags). */
export interface WorkerOptions {
  /** documents per batch */
  batchSize?: number;
  /** partitions this process works on at once */
  concurrency?: number;
  /** documents per second for this process (0 or absent: unlimited) */
  rate?: number;
  /** how many partitions to split into (first worker of a run only) */
  partitions?: number;
  /** this worker's name in leases and the audit log (default hostname:pid) */
  workerId?: string;
  leaseTtlMs?: number;
  signal?: AbortSignal;
  /** how often progress is aggregated and published (ms, default 1000) */
  progressIntervalMs?: number;
  /** write this worker's heartbeat (throttle, batch latencies) to the state store, for /metrics */
  heartbeats?: boolean;
}

/** The runner's options from a caller's, with the job's defaults. */
export function workerRunOptions(
  o: WorkerOptions,
  defaults: { partitions: number; concurrency: number; batchSize: number },
): Omit<RunOptions, 'total'> {
  return {
    partitions: o.partitions ?? defaults.partitions,
    concurrency: o.concurrency ?? defaults.concurrency,
    batchSize: o.batchSize ?? defaults.batchSize,
    ...(o.rate !== undefined ? { rate: o.rate } : {}),
    ...(o.workerId !== undefined ? { workerId: o.workerId } : {}),
    ...(o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(o.progressIntervalMs !== undefined ? { progressIntervalMs: o.progressIntervalMs } : {}),
    heartbeats: o.heartbeats === true,
  };
}

export type RunOutcome =
  /** every partition is done */
  | 'done'
  /** stopped by the signal */
  | 'aborted'
  /** stopped by the job (`onControl`) or because the plan was replaced */
  | 'stopped'
  /** a guard tripped: the job is paused */
  | 'guard-tripped';

export interface RunSummary {
  outcome: RunOutcome;
  /** why it stopped (stopped, guard-tripped) */
  message?: string;
  trip?: GuardTrip;
  plan: PlanState;
  /** the partitions as they were at the end */
  states: PartitionState[];
  progress: JobProgress;
  worker: WorkerIdentity;
}

export function runJob(ctx: RunnerContext, job: Job, options: RunOptions): Promise<RunSummary> {
  return new Runner(ctx, job, options).run();
}

/**
 * Retries and events for work outside a run (a sweep after it): store calls retried as the
 * runner retries them, with their own adaptive back-off; no lease to keep.
 */
export function looseIo(o: {
  signal?: AbortSignal | undefined;
  onEvent?: ((e: RunnerEvent) => void) | undefined;
  retrying?: BatchIo['retrying'];
}): BatchIo {
  const throttle = new Throttle();
  return {
    signal: o.signal,
    retrying:
      o.retrying ??
      ((what, fn) =>
        retryStoreCall(what, fn, {
          throttle,
          onRetry: (r) => o.onEvent?.({ type: 'retry', ...r }),
        })),
    emit: (e) => o.onEvent?.(e),
    writeLatency: () => undefined,
    ensureLease: () => Promise.resolve(),
  };
}

class Runner {
  readonly #ctx: RunnerContext;
  readonly #job: Job;
  readonly #o: RunOptions;
  readonly #partitions: Partitions;
  readonly #worker: WorkerIdentity;
  readonly #throttle: Throttle;
  readonly #concurrency: number;
  #batchSize: number;
  #plan: PlanState | undefined;
  #control: JobControl = { paused: false };
  #controlReadAt = 0;
  #pausedAnnounced = false;
  #stop: { outcome: Exclude<RunOutcome, 'done'>; message?: string } | undefined;
  #trip: GuardTrip | undefined;
  /** this worker's last 100 batch write latencies, ms (for the p99 guard) */
  readonly #writeLatencies: number[] = [];
  #meter: ProgressMeter | undefined;
  #total = 0;
  /** documents done as of the last aggregate, and since by this process */
  #doneAggregated = 0;
  #doneSince = 0;
  readonly #claiming = new Set<string>();
  #publishing = false;
  #heartbeat: WorkerHeartbeat | undefined;

  constructor(ctx: RunnerContext, job: Job, o: RunOptions) {
    this.#ctx = ctx;
    this.#job = job;
    this.#o = o;
    this.#partitions = new Partitions(
      ctx.stateStore,
      o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {},
    );
    this.#worker = defaultWorker(o.workerId);
    this.#throttle = new Throttle({ rate: o.rate ?? 0 });
    this.#concurrency = Math.max(1, o.concurrency ?? 1);
    this.#batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
    if (o.heartbeats === true)
      this.#heartbeat = new WorkerHeartbeat(ctx.stateStore, job.migration, job.pass);
  }

  #aborted(): boolean {
    return this.#o.signal?.aborted === true;
  }

  #emit(event: RunnerEvent<JobProgress>): void {
    this.#heartbeat?.onEvent(event);
    this.#o.onEvent?.(event);
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

  /** The runner's retries and events, for work that holds no lease. */
  #looseIo(): BatchIo {
    return looseIo({
      signal: this.#o.signal,
      onEvent: (e) => this.#emit(e),
      retrying: (what, fn) => this.#retrying(what, fn),
    });
  }

  async run(): Promise<RunSummary> {
    const job = this.#job;
    const plan = await this.#retrying('partitions', () =>
      this.#partitions.ensurePlanWith(job.key, () => job.plan(this.#o.partitions), {
        restart: (p) => job.restartPlan?.(p) ?? p.finished !== undefined,
      }),
    );
    this.#plan = plan;
    await this.#readControl(true);
    this.#total = await this.#o.total();
    this.#meter = new ProgressMeter(this.#total);
    this.#emit({
      type: 'start',
      migration: job.migration,
      worker: this.#worker.id,
      partitions: plan.partitions.length,
      total: this.#total,
    });
    const reporter = this.#startReporter();
    try {
      if (this.#o.instead !== undefined) await this.#o.instead(this.#looseIo(), this.#batchSize);
      else await Promise.all(Array.from({ length: this.#concurrency }, () => this.#lane()));
    } finally {
      clearInterval(reporter);
    }
    try {
      const progress = await this.#publish();
      const states = await this.#retrying('partitions', () =>
        this.#partitions.states(plan.partitions),
      );
      const allDone = states.length === plan.partitions.length && states.every((s) => s.done);
      const stop = this.#stop ?? (allDone ? undefined : { outcome: 'aborted' as const });
      return {
        outcome: stop?.outcome ?? 'done',
        ...(stop?.message !== undefined ? { message: stop.message } : {}),
        ...(this.#trip !== undefined ? { trip: this.#trip } : {}),
        plan,
        states,
        progress,
        worker: this.#worker,
      };
    } finally {
      await this.#heartbeat?.close();
    }
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

  async #acquireAny(): Promise<Lease | null | 'all-done'> {
    const ids = this.#plan!.partitions;
    const states = await this.#retrying('partitions', () => this.#partitions.states(ids));
    const listedAt = Date.now();
    if (states.length < ids.length) {
      this.#stop ??= {
        outcome: 'stopped',
        message: `the partitions of ${this.#job.key} were replaced by a newer run; this worker stopped`,
      };
      return 'all-done';
    }
    const open = states.filter((p) => !p.done);
    // nothing left, or only what this process's other lanes are working on: this lane is done
    if (open.every((p) => heldBy(p, this.#worker) && Number(p.expiresAt) > listedAt))
      return 'all-done';
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
          const previous = takenOverFrom(p, this.#worker, listedAt);
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
    const id = initial.state.id;
    let lease = initial;
    let work = this.#job.open(lease.state, this.#plan!);
    // what the batches since the last checkpoint reached (checkpointed together)
    let cursor = lease.state.cursor;
    let counts = lease.state.counts;
    let savedAt = Date.now();
    let unsaved = false;
    const save = async (done: boolean) => {
      const data = await work.data?.();
      lease = await this.#retrying('checkpoint', () =>
        this.#partitions.checkpoint(lease, {
          cursor,
          done,
          counts,
          ...(data !== undefined ? { data } : {}),
        }),
      );
      savedAt = Date.now();
      unsaved = false;
      this.#o.onCheckpoint?.(this.#meter!.snapshot(this.#doneAggregated + this.#doneSince));
    };
    const every = Math.min(this.#job.checkpointEveryMs ?? 0, this.#partitions.ttlMs / 3);
    const io: BatchIo = {
      signal: this.#o.signal,
      retrying: (what, fn) => this.#retrying(what, fn),
      emit: (e) => this.#emit(e),
      writeLatency: (ms) => {
        this.#writeLatencies.push(ms);
        if (this.#writeLatencies.length > 100) this.#writeLatencies.shift();
      },
      ensureLease: async () => {
        if (Date.now() - savedAt > this.#partitions.ttlMs / 3)
          lease = await this.#retrying('checkpoint', () => this.#partitions.checkpoint(lease, {}));
      },
    };
    this.#claiming.add(id);
    try {
      while (!lease.state.done) {
        if (this.#aborted()) this.#stop ??= { outcome: 'aborted' };
        if (this.#stop !== undefined) {
          // work since the last checkpoint is not saved: a job may hold some back (see job.ts)
          await this.#partitions.release(lease).catch(() => undefined);
          return;
        }
        if (unsaved && this.#control.paused) await save(false);
        lease = await this.#waitWhilePaused(lease);
        if (this.#stop !== undefined || this.#aborted()) continue;
        const started = performance.now();
        let page;
        try {
          page = await this.#retrying('scan', () =>
            this.#job.scan(lease.state.range, cursor, this.#batchSize),
          );
        } catch (err) {
          if (!isCursorInvalidated(err)) throw err;
          // rule 4: walk the partition again from its beginning, with nothing counted
          this.#emit({ type: 'restart', partition: id, reason: (err as Error).message });
          lease = await this.#retrying('checkpoint', () =>
            this.#partitions.checkpoint(lease, {
              cursor: null,
              done: false,
              counts: { ...ZERO_COUNTS },
              data: undefined,
            }),
          );
          work = this.#job.open(lease.state, this.#plan!);
          cursor = null;
          counts = { ...ZERO_COUNTS };
          savedAt = Date.now();
          unsaved = false;
          continue;
        }
        // the rate limiter's wait is not store latency: keep it out of the back-off's measurement
        const waitStarted = performance.now();
        await this.#throttle.take(Math.max(1, page.items.length), this.#o.signal);
        const waited = performance.now() - waitStarted;
        const delta: PartitionCounts = {
          ...ZERO_COUNTS,
          ...(await work.batch(page.items, io)),
          scanned: page.items.length,
        };
        counts = addCounts(counts, delta);
        cursor = page.cursor ?? lastKey(page.items) ?? cursor;
        unsaved = true;
        this.#doneSince += page.items.length;
        const done = page.cursor === null;
        if (done || Date.now() - savedAt >= every || work.due?.() === true) await save(done);
        const latencyMs = performance.now() - started - waited;
        this.#throttle.observe(latencyMs, 'ok');
        this.#emit({ type: 'batch', partition: id, counts: delta, latencyMs });
        await this.#checkGuards();
      }
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.#emit({ type: 'lease-lost', partition: id });
        return;
      }
      throw err;
    } finally {
      this.#claiming.delete(id);
    }
  }

  /** Read the control before every batch; keep the lease alive while paused. */
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
    const job = this.#job;
    const entry = await this.#retrying('catalog', () => this.#ctx.catalog.get(job.migration));
    const reason = job.onControl?.(entry);
    if (reason !== undefined) this.#stop ??= { outcome: 'stopped', message: reason };
    const control = controlOf(entry, job.pass);
    this.#control = control;
    if (this.#o.rate === undefined || control.rate !== undefined) {
      const rate = control.rate ?? this.#o.rate ?? 0;
      if (rate !== this.#throttle.rate) this.#throttle.setRate(rate);
    }
    if (control.batchSize !== undefined) this.#batchSize = control.batchSize;
  }

  async #checkGuards(): Promise<void> {
    const guards = this.#o.guards;
    if (guards === undefined || this.#stop !== undefined) return;
    const p = await this.#aggregate();
    const deadLetters = Number(p.deadLetters ?? 0);
    const trip = checkGuards(guards, {
      scanned: p.scanned,
      errors: p.errors,
      conflicts: p.conflicts,
      deadLetters,
      writeLatencies: this.#writeLatencies,
    });
    if (trip === undefined || this.#stop !== undefined) return;
    const rollingBack = this.#o.autoRollback === true;
    this.#stop = { outcome: 'guard-tripped', message: trip.message };
    this.#trip = trip;
    const { migration, pass } = this.#job;
    await this.#ctx.catalog.update(migration, (e) =>
      withControl(e, pass, {
        paused: true,
        reason: `guard ${trip.guard}: ${trip.message}`,
        by: 'guard',
      }),
    );
    const counts = { scanned: p.scanned, errors: p.errors, conflicts: p.conflicts, deadLetters };
    await this.#ctx.audit.append({
      actor: this.#ctx.actor,
      command: 'guard.trip',
      migration,
      params: { guard: trip.guard, value: trip.value, limit: trip.limit, ...counts },
      outcome: rollingBack ? 'paused; rolling back' : 'paused',
    });
    this.#emit({ type: 'guard-trip', trip, autoRollback: rollingBack, counts });
  }

  async #aggregate(): Promise<JobProgress> {
    const states = await this.#partitions.states(this.#plan!.partitions);
    const counts = states.reduce<PartitionCounts>((acc, s) => addCounts(acc, s.counts), {
      ...ZERO_COUNTS,
    });
    const now = Date.now();
    const workers = [
      ...new Set(
        states
          .filter((s) => s.owner !== null && Number(s.expiresAt) > now && !s.done)
          .map((s) => s.owner!),
      ),
    ];
    const done = counts.scanned;
    this.#doneAggregated = done;
    this.#doneSince = 0;
    const total = Math.max(this.#total, done);
    const snap = this.#meter!.snapshot(done);
    return {
      ...snap,
      ...counts,
      total,
      etaSeconds: states.length > 0 && states.every((s) => s.done) ? 0 : snap.etaSeconds,
      partitions: states.length,
      partitionsDone: states.filter((s) => s.done).length,
      workers,
      ...(await this.#job.progressExtra?.(states)),
      throttle: {
        rate: this.#throttle.rate,
        effectiveRate: Math.round(this.#throttle.effectiveRate),
        factor: Number(this.#throttle.factor.toFixed(3)),
        batchSize: this.#batchSize,
        concurrency: this.#concurrency,
      },
      paused: this.#control.paused,
    };
  }

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

  /** Aggregate the progress, publish it in the catalog entry, and tell the listeners. */
  async #publish(): Promise<JobProgress> {
    const p = await this.#aggregate();
    const { throttle: _t, workers: _w, ...stored } = p;
    const field = progressField(this.#job.pass);
    await this.#ctx.catalog
      .update(this.#job.migration, (e: CatalogEntry) => ({
        ...e,
        [field]: { ...stored, workers: p.workers.length, updatedAt: new Date().toISOString() },
      }))
      .catch((err: unknown) => {
        // a verify of a migration that was never registered has no entry to publish to
        if (!(err instanceof CatalogConflictError)) throw err;
      });
    this.#emit({ type: 'progress', progress: p });
    return p;
  }
}

function lastKey(items: readonly StoredDoc[]): string | undefined {
  return items[items.length - 1]?.key;
}

export type { PartitionWork };
