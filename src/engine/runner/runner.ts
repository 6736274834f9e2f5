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
 *    lease was taken over stops working that partition at its next checkpoint (fencing). A
 *    batch's own writes go through `io.write`, fenced by the same rev where the store can check
 *    it atomically, else after renewing a stale lease (fencing.ts): a worker that lost its lease
 *    lands nothing there.
 * 4. A scan cursor that lost its meaning (`CursorInvalidatedError`: the Redis server restarted)
 *    is never continued: that partition is checkpointed back to its beginning with its counts and
 *    data reset, a `restart` event says why, and its walk starts over. A partition is done only
 *    when a walk reached its end without that happening.
 * 5. Pause, rate and batch size are read from the catalog entry before every batch by every
 *    worker (control.ts); a paused worker keeps its leases alive and waits. Outside the change
 *    windows it is given (windows.ts) a worker is paused the same way, and goes on when one opens.
 * 6. Guards and thresholds are checked after every batch against the counts of all workers
 *    (limits.ts); a guard trip, or a threshold whose action is pause or rollback, pauses the job
 *    (in the catalog, audited) and stops this run; an alert or a throttle acts and the run goes on.
 * 7. A partition whose work has a limit (`remaining`: a canary's `--limit`) reads pages no larger
 *    than what is left, and is done, its cursor where it stands, once nothing is left.
 */
import { defaultWorker, LeaseLostError, type WorkerIdentity } from '../../state/lease.js';
import {
  addCounts,
  Partitions,
  ZERO_COUNTS,
  type Lease,
  type PartitionCounts,
  type PlanState,
} from '../../state/partitions.js';
import { isCursorInvalidated } from '../../store/store-errors.js';
import { traceBatch } from '../../observe/tracing.js';
import { WorkerHeartbeat } from '../../observe/worker-heartbeat.js';
import { ControlReader } from './control-reader.js';
import type { GuardTrip } from './guards.js';
import { RunLimits } from './limits.js';
import type { BatchIo, Job, JobProgress, PartitionWork, RunnerEvent, Units } from './job.js';
import {
  DEFAULT_BATCH_SIZE,
  looseIo,
  type RunnerContext,
  type RunOptions,
  type RunOutcome,
  type RunSummary,
} from './options.js';
import { writeUnderLease, type LeaseHold } from './fencing.js';
import { LeaseSeeker } from './leasing.js';
import { ProgressReporter } from './reporter.js';
import { retryStoreCall } from './retry.js';
import { sleep, Throttle } from './throttle.js';
import { windowView } from './windows.js';

export function runJob<I extends { key: string }>(
  ctx: RunnerContext,
  job: Job<I>,
  options: RunOptions,
): Promise<RunSummary> {
  return new Runner(ctx, job, options).run();
}

class Runner<I extends { key: string }> {
  readonly #ctx: RunnerContext;
  readonly #job: Job<I>;
  readonly #o: RunOptions;
  readonly #partitions: Units;
  readonly #worker: WorkerIdentity;
  readonly #throttle: Throttle;
  readonly #concurrency: number;
  readonly #controls: ControlReader;
  #plan: PlanState | undefined;
  #stop: { outcome: Exclude<RunOutcome, 'done'>; message?: string } | undefined;
  #trip: GuardTrip | undefined;
  #seeker: LeaseSeeker | undefined;
  #leaseLost = false;
  /** the guards and thresholds, checked after every batch (limits.ts) */
  readonly #limits: RunLimits;
  #reporter: ProgressReporter | undefined;
  #heartbeat: WorkerHeartbeat | undefined;

  constructor(ctx: RunnerContext, job: Job<I>, o: RunOptions) {
    this.#ctx = ctx;
    this.#job = job;
    this.#o = o;
    this.#partitions =
      o.units ??
      new Partitions(
        ctx.stateStore,
        o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {},
      );
    this.#worker = defaultWorker(o.workerId);
    this.#throttle = new Throttle({ rate: o.rate ?? 0 });
    if (o.capacity !== undefined) this.#throttle.setCapacity(o.capacity.budget);
    this.#concurrency = Math.max(1, o.concurrency ?? 1);
    this.#controls = new ControlReader({
      catalog: ctx.catalog,
      job,
      throttle: this.#throttle,
      rate: o.rate,
      batchSize: o.batchSize ?? DEFAULT_BATCH_SIZE,
      retrying: (what, fn) => this.#retrying(what, fn),
      emit: (e) => this.#emit(e),
      stop: (message) => (this.#stop ??= { outcome: 'stopped', message }),
      windows: o.windows,
      clock: o.clock,
    });
    if (o.heartbeats === true)
      this.#heartbeat = new WorkerHeartbeat(ctx.stateStore, job.migration, job.pass);
    this.#limits = new RunLimits(
      ctx,
      job,
      o,
      (e) => this.#emit(e),
      (what, fn) => this.#retrying(what, fn),
    );
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
    return retryStoreCall(what, this.#limits.counting(what, fn), {
      throttle: this.#throttle,
      onRetry: (r) => this.#emit({ type: 'retry', ...r }),
      // a lost lease is not transient: this worker must stop writing that partition
      isFatal: (err) => err instanceof LeaseLostError || this.#job.fatal?.(err) === true,
    });
  }

  /** Renew a lease (a checkpoint that changes nothing else). */
  #renew(lease: Lease): Promise<Lease> {
    return this.#retrying('checkpoint', () => this.#partitions.checkpoint(lease, {}));
  }

  /** The runner's retries and events, for work that holds no lease. */
  #looseIo(): BatchIo {
    return looseIo({
      signal: this.#o.signal,
      onEvent: (e) => this.#emit(e),
      retrying: (what, fn) => this.#retrying(what, fn),
      limit: this.#controls.batchSize,
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
    await this.#controls.read(true);
    const total = await this.#retrying('count', () => this.#o.total());
    const reporter = new ProgressReporter(
      this.#ctx.catalog,
      job,
      this.#partitions,
      plan.partitions,
      total,
      () => ({
        throttle: {
          rate: this.#throttle.rate,
          effectiveRate: Math.round(this.#throttle.effectiveRate),
          factor: Number(this.#throttle.factor.toFixed(3)),
          batchSize: this.#controls.batchSize,
          concurrency: this.#concurrency,
        },
        ...(this.#o.capacity?.meter.metered === true
          ? { capacity: this.#o.capacity.meter.progress(this.#throttle)! }
          : {}),
        paused: this.#controls.control.paused,
        ...(this.#controls.window !== undefined
          ? { window: windowView(this.#controls.window) }
          : {}),
      }),
      (e) => this.#emit(e),
    );
    this.#reporter = reporter;
    this.#emit({
      type: 'start',
      migration: job.migration,
      worker: this.#worker.id,
      partitions: plan.partitions.length,
      total,
    });
    reporter.start(this.#o.progressIntervalMs ?? 1000);
    try {
      try {
        if (this.#o.instead !== undefined)
          await this.#o.instead(this.#looseIo(), this.#controls.batchSize);
        else await this.#lanes(plan);
      } finally {
        reporter.stop();
      }
      const progress = await this.#retrying('progress', () => reporter.publish());
      const states = await this.#retrying('partitions', () =>
        this.#partitions.states(plan.partitions),
      );
      const allDone = states.length === plan.partitions.length && states.every((s) => s.done);
      const stop = this.#stop ?? (allDone ? undefined : { outcome: 'aborted' as const });
      return {
        outcome: stop?.outcome ?? 'done',
        ...(stop?.message !== undefined ? { message: stop.message } : {}),
        ...(this.#trip !== undefined ? { trip: this.#trip } : {}),
        ...(this.#seeker?.holder !== undefined ? { holder: this.#seeker.holder } : {}),
        leaseLost: this.#leaseLost,
        plan,
        states,
        progress,
        worker: this.#worker,
      };
    } finally {
      await this.#heartbeat?.close();
    }
  }

  /**
   * The lanes of this process. A lane that fails stops the others (before their next batch, their
   * leases released) and its error is thrown once they have all ended: none keeps working behind
   * a run that has already failed.
   */
  async #lanes(plan: PlanState): Promise<void> {
    const seeker = new LeaseSeeker(
      this.#partitions,
      this.#worker,
      plan.partitions,
      (what, fn) => this.#retrying(what, fn),
      (e) => this.#emit(e),
    );
    this.#seeker = seeker;
    const lanes = await Promise.allSettled(
      Array.from({ length: this.#concurrency }, () =>
        this.#lane(seeker).catch((err: unknown) => {
          this.#stop ??= { outcome: 'aborted', message: (err as Error).message };
          throw err;
        }),
      ),
    );
    const failed = lanes.find((l) => l.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /** One lane: take a free partition, work it to the end, take the next, until all are done. */
  async #lane(seeker: LeaseSeeker): Promise<void> {
    for (;;) {
      if (this.#stop !== undefined || this.#aborted()) return;
      const lease = await seeker.next();
      if (lease === 'all-done') return;
      if (lease === 'replaced') {
        this.#stop ??= {
          outcome: 'stopped',
          message: `the partitions of ${this.#job.key} were replaced by a newer run; this worker stopped`,
        };
        return;
      }
      if (lease === null) {
        // every open partition is leased by a live worker: wait, in case one dies
        if (this.#o.standby === false) {
          this.#stop ??= { outcome: 'busy' };
          return;
        }
        if (seeker.holder !== undefined) this.#emit({ type: 'waiting', ...seeker.holder });
        await sleep(Math.min(1000, this.#partitions.ttlMs / 3), this.#o.signal);
        continue;
      }
      await this.#work(lease, seeker.claiming);
    }
  }

  async #work(initial: Lease, claiming: Set<string>): Promise<void> {
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
      this.#o.onCheckpoint?.(this.#reporter!.estimate());
    };
    const every = Math.min(this.#job.checkpointEveryMs ?? 0, this.#partitions.ttlMs / 3);
    const limit = () => this.#controls.batchSize;
    const io: BatchIo = {
      signal: this.#o.signal,
      get limit() {
        return limit();
      },
      retrying: (what, fn) => this.#retrying(what, fn),
      emit: (e) => this.#emit(e),
      writeLatency: (ms) => this.#limits.writeLatency(ms),
      ensureLease: async () => {
        if (Date.now() - savedAt > this.#partitions.ttlMs / 3) lease = await this.#renew(lease);
      },
      write: (store, batches) => writeUnderLease(store, batches, hold(), io.retrying),
    };
    // rule 3: a batch's writes are fenced by the lease (fencing.ts)
    const hold = (): LeaseHold | undefined => {
      const fence = this.#partitions.fence?.(lease);
      if (fence === undefined) return undefined;
      const reclaim = async () => {
        const again = await this.#retrying('lease', async () => this.#partitions.reclaim?.(lease));
        if (again == null) return null;
        lease = again;
        return this.#partitions.fence!(lease).guard;
      };
      return { ...fence, renewIfStale: io.ensureLease, reclaim };
    };
    claiming.add(id);
    try {
      await work.start?.(io);
      while (!lease.state.done) {
        if (this.#aborted()) this.#stop ??= { outcome: 'aborted' };
        if (this.#stop !== undefined) {
          // work since the last checkpoint is not saved: a job may hold some back (see job.ts)
          const why = this.#stop.message ?? this.#stop.outcome;
          await this.#partitions.release(lease, why).catch(() => undefined);
          return;
        }
        if (unsaved && this.#controls.control.paused) await save(false);
        lease = await this.#controls.waitWhilePaused(
          lease,
          (l) => this.#renew(l),
          () => this.#aborted() || this.#stop !== undefined,
          this.#o.signal,
        );
        if (this.#stop !== undefined || this.#aborted()) continue;
        const started = performance.now();
        // rule 7: a partition with a limit takes no more than what is left of it
        const left = await work.remaining?.(io);
        if (left !== undefined && left <= 0) {
          await save(true);
          continue;
        }
        const pageSize = Math.min(this.#controls.batchSize, left ?? Infinity);
        let page;
        try {
          page = await this.#retrying('scan', () =>
            this.#job.scan(lease.state.range, cursor, pageSize),
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
          ...(await traceBatch(this.#job, id, page.items.length, () => work.batch(page.items, io))),
          scanned: page.items.length,
        };
        if (this.#o.capacity !== undefined) this.#throttle.charge(this.#o.capacity.meter.totals());
        counts = addCounts(counts, delta);
        cursor = page.cursor ?? lastKey(page.items) ?? cursor;
        unsaved = true;
        this.#reporter!.add(page.items.length);
        const done = page.cursor === null || (await work.remaining?.(io)) === 0;
        if (done || Date.now() - savedAt >= every || work.due?.() === true) await save(done);
        const latencyMs = performance.now() - started - waited;
        this.#throttle.observe(latencyMs, 'ok');
        this.#limits.batchLatency(latencyMs);
        this.#emit({ type: 'batch', partition: id, counts: delta, latencyMs });
        await this.#checkGuards();
        const next = work.next?.();
        if (next?.stop !== undefined) {
          if (unsaved) await save(false);
          this.#stop ??= { outcome: 'stopped', message: next.stop };
        } else if (next?.idleMs !== undefined) await sleep(next.idleMs, this.#o.signal);
      }
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.#leaseLost = true;
        this.#emit({ type: 'lease-lost', partition: id });
        if (this.#o.stopOnLeaseLost === true)
          this.#stop ??= { outcome: 'stopped', message: err.message };
        return;
      }
      // a failed worker gives its partition back at once (the next one resumes at the checkpoint)
      await this.#partitions
        .release(lease, `failed: ${(err as Error).message}`)
        .catch(() => undefined);
      throw err;
    } finally {
      claiming.delete(id);
    }
  }

  /** Rule 6: a guard trip, or a threshold that pauses or rolls back, pauses the job and ends this run. */
  async #checkGuards(): Promise<void> {
    if (this.#stop !== undefined) return;
    const trip = await this.#limits.check(
      // the partitions' counts, read after every batch: retried like every other store call (a
      // state store away for a moment failed the whole run here, exit 3)
      () => this.#retrying('progress', () => this.#reporter!.aggregate()),
      () => ({ rate: this.#throttle.rate, measured: this.#reporter!.estimate().rate }),
      () => this.#stop !== undefined,
    );
    if (trip === undefined || this.#stop !== undefined) return;
    this.#stop = { outcome: 'guard-tripped', message: trip.message };
    this.#trip = trip;
  }
}

function lastKey(items: readonly { key: string }[]): string | undefined {
  return items[items.length - 1]?.key;
}

export type { PartitionWork };
