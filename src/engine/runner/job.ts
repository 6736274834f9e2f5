/**
 * What a job is, to the runner (runner.ts): the few things that are its own. Everything else —
 * partitions and their leases, checkpoints, the throttle, pause and throttle from the state store,
 * progress and ETA, guards, heartbeats, retries, a cursor that lost its meaning — is the
 * runner's, the same for every job.
 *
 * A job gives:
 * - `key`: its partitions in `_sy_partitions` (`<migration>` for the backfill, `<migration>#verify`,
 *   `<migration>#rollback`, ...);
 * - `plan(n)`: the ranges to split the work into (and the parameters every worker must share),
 *   asked of the first worker only;
 * - `scan(range, cursor, limit)`: one page of one partition (a collection's `scan` mostly; the
 *   side-by-side verify scans one of two stores, catch-up reads a change feed);
 * - `open(partition)`: the work on one partition from its checkpoint, whose `batch(items)` does
 *   what the job does with one page and returns the counts to add; `data()` is what it keeps
 *   per partition besides (checkpointed with the cursor, so a resumed partition starts from it).
 * A job's end (records, status, audit) is its operation's (engine/backfill.ts, verify.ts, ...).
 *
 * Rule for `data()`: it must be exactly what the pages up to the cursor produced. A job that
 * holds work back between checkpoints (`checkpointEveryMs`) settles it in `data()`.
 */
import type { CatalogEntry } from '../../state/catalog.js';
import type { WorkerIdentity } from '../../state/lease.js';
import type {
  Lease,
  PartitionCounts,
  PartitionState,
  PlanOptions,
  PlanState,
} from '../../state/partitions.js';
import type { Range, Store, StoredDoc, WriteGuard, WriteResult } from '../../store/contract.js';
import type { CapacityProgress } from './capacity.js';
import type { WriteBatches } from './fencing.js';
import type { GuardTrip } from './guards.js';
import type { ProgressSnapshot } from './progress.js';
import type { ThresholdFiring } from './thresholds.js';
import type { WindowView } from './windows.js';

/** The kinds of job, as named in events, heartbeats, metrics and the control fields. */
export const JobPass = {
  backfill: 'backfill',
  verify: 'verify',
  rollback: 'rollback',
  catchup: 'catch-up',
} as const;
export type JobPass = (typeof JobPass)[keyof typeof JobPass];

/** One page of a partition: what the job reads (documents mostly; changes for catch-up). */
export interface Page<I> {
  readonly items: readonly I[];
  /** where to continue, or null when the partition is exhausted */
  readonly cursor: string | null;
}

/**
 * Where a job's units of work live, leased and checkpointed: `_sy_partitions` (state/partitions.ts)
 * for every partitioned job; catch-up keeps its one unit, the change feed, in `_sy_catchup`.
 */
export interface Units {
  readonly ttlMs: number;
  ensurePlanWith(
    job: string,
    make: () => Promise<{ ranges: Range[]; params?: Record<string, unknown> }>,
    options: PlanOptions,
  ): Promise<PlanState>;
  states(ids: readonly string[]): Promise<PartitionState[]>;
  tryAcquire(id: string, worker: WorkerIdentity): Promise<Lease | null>;
  checkpoint(
    lease: Lease,
    update: Partial<Pick<PartitionState, 'cursor' | 'done' | 'counts' | 'data'>>,
  ): Promise<Lease>;
  /** give the lease back (`why`: the run's stop message, kept where the unit can say it) */
  release(lease: Lease, why?: string): Promise<void>;
  /** the store holding the lease and the lease as a write guard, for fenced writes (fencing.ts) */
  fence?(lease: Lease): { store: Store; guard: WriteGuard };
  /** the lease read again after a refused guard: at the store's rev if still held, else null */
  reclaim?(lease: Lease): Promise<Lease | null>;
}

export interface Job<I extends { key: string } = StoredDoc> {
  readonly pass: JobPass;
  /** the migration: its catalog entry holds the job's control and published progress */
  readonly migration: string;
  /** the job's partitions in the state store */
  readonly key: string;
  /** the ranges to split into, and the parameters every worker uses (first worker only) */
  plan(n: number): Promise<{ ranges: Range[]; params?: Record<string, unknown> }>;
  /** whether an existing plan must give way to a new one (default: a finished one does) */
  restartPlan?(plan: PlanState): boolean;
  /** one page of one partition, after `cursor` (null: from its beginning) */
  scan(range: Range, cursor: string | null, limit: number): Promise<Page<I>>;
  /** work on one partition, from its checkpoint (`partition.cursor`, `partition.data`) */
  open(partition: PartitionState, plan: PlanState): PartitionWork<I>;
  /**
   * Called with the catalog entry at every control read (before batches): a reason to stop the
   * run (a rollback started under a backfill), or undefined to go on.
   */
  onControl?(entry: CatalogEntry | null): string | undefined;
  /** what the published progress adds for this job (dead letters; sums of the partitions' data) */
  progressExtra?(states: readonly PartitionState[]): Promise<Record<string, unknown>>;
  /** what is published in the catalog entry (default: the progress, without throttle and workers) */
  published?(progress: JobProgress, states: readonly PartitionState[]): Record<string, unknown>;
  /** a store error retrying cannot fix (besides a lost lease), thrown at once */
  fatal?(err: unknown): boolean;
  /**
   * Checkpoint at most this often, ms (default 0: after every batch). For jobs whose `data()` is
   * large (bucket summaries): a killed worker redoes at most this much work. The lease is renewed
   * at least every third of its TTL whatever this says.
   */
  readonly checkpointEveryMs?: number;
}

export interface PartitionWork<I = StoredDoc> {
  /** Once, when this worker has taken the partition, before its first page (audit a start). */
  start?(io: BatchIo): Promise<void>;
  /** Do what the job does with one page; return the counts to add (`scanned` is added for you). */
  batch(items: readonly I[], io: BatchIo): Promise<Partial<PartitionCounts>>;
  /** What to checkpoint besides cursor and counts (default: nothing). */
  data?(): Promise<Record<string, unknown> | undefined>;
  /**
   * How many more items this partition may take (a canary's `--limit`): the next page is no
   * larger, and at 0 the partition is done where its cursor stands. Nothing: no limit.
   */
  remaining?(io: BatchIo): Promise<number | undefined>;
  /** Whether to checkpoint now, before `checkpointEveryMs` (work held back is piling up). */
  due?(): boolean;
  /**
   * After each batch: end the run (`stop`, with why), or wait this long before the next page
   * (`idleMs`: a change feed that was drained). Nothing: go on.
   */
  next?(): { stop?: string; idleMs?: number } | undefined;
}

/** What the runner lends a batch. */
export interface BatchIo {
  readonly signal: AbortSignal | undefined;
  /** the page size asked for (a shorter page: the partition or feed was drained) */
  readonly limit: number;
  /** a store call, retried through transient failures (runner/retry.ts) */
  retrying<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** tell the listeners (dead letters, ...) */
  emit(event: RunnerEvent): void;
  /** one batch write's latency, ms, for the p99 guard */
  writeLatency(ms: number): void;
  /** renew the lease now if it is older than a third of its TTL (before unconditional writes) */
  ensureLease(): Promise<void>;
  /**
   * Write batches to collections of `store` under this worker's lease (runner/fencing.ts): where
   * the store holds the lease and commits atomically, nothing lands unless the lease is still
   * this worker's; elsewhere a stale lease is renewed first. LeaseLostError when it was lost.
   */
  write(store: Store, batches: WriteBatches): Promise<WriteResult[][]>;
}

/** Where a job stands, over all its partitions and workers; jobs add their own fields. */
export interface JobProgress extends ProgressSnapshot, PartitionCounts {
  [extra: string]: unknown;
  partitions: number;
  partitionsDone: number;
  /** workers holding a live lease */
  workers: string[];
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
  /** with change windows: whether one is open, and until when (closed: when the next opens) */
  window?: WindowView;
}

export interface TakenOver {
  worker: string;
  host: string | null;
  pid: number | null;
  expiresAt: number;
}

/** What every job on the runner tells its listeners (a job's own events come on top). */
export type RunnerEvent<P = JobProgress> =
  | { type: 'start'; migration: string; worker: string; partitions: number; total: number }
  | {
      type: 'lease';
      partition: string;
      token: number;
      /** set when another worker held the partition and let its lease lapse (died or stalled) */
      takenOverFrom?: TakenOver;
    }
  | { type: 'lease-lost'; partition: string }
  /** every open partition is leased by another live worker: this one waits, in case it dies */
  | { type: 'waiting'; owner: string; expiresAt: number }
  | { type: 'batch'; partition: string; counts: PartitionCounts; latencyMs: number }
  | { type: 'retry'; error: string; attempt: number; delayMs: number }
  | { type: 'paused'; reason: string }
  | { type: 'resumed' }
  /** a partition's scan cursor lost its meaning: its walk starts again, its counts reset */
  | { type: 'restart'; partition: string; reason: string }
  | { type: 'dead-letter'; key: string; error: string }
  | {
      type: 'guard-trip';
      trip: GuardTrip;
      autoRollback: boolean;
      counts: { scanned: number; errors: number; conflicts: number; deadLetters: number };
    }
  /** a contingency threshold fired (thresholds.ts); `rate`: what a throttle set */
  | {
      type: 'threshold';
      firing: ThresholdFiring;
      job: JobPass;
      rate?: number;
      rollbackCommand?: string;
    }
  | { type: 'progress'; progress: P };
