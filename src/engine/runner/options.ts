/**
 * What a run of a job is given (RunOptions, from the caller's WorkerOptions: the same flags for
 * every job) and what it comes back with (RunSummary).
 */
import type { AuditLog } from '../../state/audit-log.js';
import type { Catalog } from '../../state/catalog.js';
import type { WorkerIdentity } from '../../state/lease.js';
import type { PartitionState, PlanState } from '../../state/partitions.js';
import type { Store } from '../../store/contract.js';
import type { GuardTrip, Guards } from './guards.js';
import type { Threshold } from './thresholds.js';
import { writeUnderLease } from './fencing.js';
import type { BatchIo, JobProgress, RunnerEvent, Units } from './job.js';
import type { ProgressSnapshot } from './progress.js';
import { retryStoreCall } from './retry.js';
import { Throttle, type CapacityBudget } from './throttle.js';
import type { CapacityLimit, PassCapacity } from './capacity.js';
import type { WindowSchedule } from './windows.js';

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
  /** contingency thresholds checked after every batch (thresholds.ts) */
  thresholds?: readonly Threshold[];
  /** said in a guard trip's audit entry and event: the operation rolls back after a trip */
  autoRollback?: boolean;
  /** the documents to go, for the ETA */
  total: () => Promise<number>;
  /** how often progress is aggregated and published (ms, default 1000) */
  progressIntervalMs?: number;
  /** write this worker's heartbeat (throttle, batch latencies) to the state store */
  heartbeats?: boolean;
  /** the change windows this job may work in (windows.ts; none: always) */
  windows?: WindowSchedule;
  /** epoch ms now, for the change windows (default Date.now; tests inject one) */
  clock?: () => number;
  /** capacity units (stores that meter them: DynamoDB): the budget and what counts them (capacity.ts) */
  capacity?: { budget: CapacityBudget; meter: PassCapacity };
  onEvent?: (event: RunnerEvent<JobProgress>) => void;
  /** after every checkpoint of this process: the progress as far as it knows */
  onCheckpoint?: (p: ProgressSnapshot) => void;
  /** where the job's units live (default: `_sy_partitions`) */
  units?: Units;
  /**
   * When every open partition is leased by another live worker: wait for one to be free (default)
   * or end the run at once (outcome `busy`, with the holder).
   */
  standby?: boolean;
  /**
   * When a lease is taken over by another worker: look for other partitions (default), or end
   * the run (outcome `stopped`, `leaseLost` set: catch-up, whose one unit is now someone else's).
   */
  stopOnLeaseLost?: boolean;
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
  /** read / write capacity units per second for this process, or a % of the tables' provisioned ones (capacity.ts) */
  maxRcu?: CapacityLimit;
  maxWcu?: CapacityLimit;
  /** the change windows to work in (windows.ts; the CLI passes the config's for a backfill) */
  windows?: WindowSchedule;
  /** epoch ms now, for the change windows (default Date.now; tests inject one) */
  clock?: () => number;
  /** the contingency thresholds of this job (thresholds.ts; the CLI passes the config's) */
  thresholds?: readonly Threshold[];
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
    ...(o.windows !== undefined ? { windows: o.windows } : {}),
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    ...(o.thresholds !== undefined ? { thresholds: o.thresholds } : {}),
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
  | 'guard-tripped'
  /** every open partition was held by another live worker, and `standby` was false */
  | 'busy';

export interface RunSummary {
  outcome: RunOutcome;
  /** why it stopped (stopped, guard-tripped) */
  message?: string;
  trip?: GuardTrip;
  /** who held the partitions (busy) */
  holder?: { owner: string; expiresAt: number };
  /** a partition's lease was taken over by another worker during the run */
  leaseLost: boolean;
  plan: PlanState;
  /** the partitions as they were at the end */
  states: PartitionState[];
  progress: JobProgress;
  worker: WorkerIdentity;
}

export function looseIo(o: {
  signal?: AbortSignal | undefined;
  onEvent?: ((e: RunnerEvent) => void) | undefined;
  retrying?: BatchIo['retrying'];
  limit?: number;
}): BatchIo {
  const throttle = new Throttle();
  const retrying: BatchIo['retrying'] =
    o.retrying ??
    ((what, fn) =>
      retryStoreCall(what, fn, {
        throttle,
        onRetry: (r) => o.onEvent?.({ type: 'retry', ...r }),
      }));
  return {
    signal: o.signal,
    limit: o.limit ?? DEFAULT_BATCH_SIZE,
    retrying,
    emit: (e) => o.onEvent?.(e),
    writeLatency: () => undefined,
    ensureLease: () => Promise.resolve(),
    // no lease: nothing to fence with
    write: (store, batches) => writeUnderLease(store, batches, undefined, retrying),
  };
}
