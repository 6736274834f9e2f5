/**
 * The flags every job on the runner takes (backfill, verify, rollback): how this worker process
 * works — its batch size, lanes, rate, its name — and how the first worker splits the work. One
 * list, so the commands' help and docs say the same thing the same way.
 */
import { UsageError } from '../core/errors.js';
import { JobPass } from '../engine/runner/job.js';
import type { WorkerOptions } from '../engine/runner/options.js';
import type { OptionSpec } from './cli-spec.js';

export interface WorkerCliOptions {
  batchSize: number;
  /** --final-sweep / --no-final-sweep (in-place backfill and rollback) */
  finalSweep?: boolean;
  concurrency?: number;
  rate?: number;
  partitions?: number;
  workerId?: string;
  leaseTtl: number;
}

export const DEFAULT_LEASE_TTL_MS = 15_000;

/** A default: a value, or (when it depends on more than the flag) how it is chosen. */
type Default = number | string;

function defaulted(d: Default): Pick<OptionSpec, 'defaultValue' | 'defaultDescription'> {
  return typeof d === 'number' ? { defaultValue: d } : { defaultDescription: d };
}

/**
 * --final-sweep / --no-final-sweep of the in-place jobs that end on a walk of the whole
 * collection (engine/jobs/final-sweep.ts); `ends`: the word the job ends with ("backfilled").
 */
export function finalSweepOptionSpecs(ends: string, left: string) {
  return [
    {
      flags: '--final-sweep',
      description: `in place: walk the collection once more before saying "${ends}", and end incomplete (exit 1) naming the documents ${left} (default: on Redis when the run saw a walk restarted or a store call retried, since a server restart invalidates SCAN cursors; off elsewhere and otherwise)`,
    },
    { flags: '--no-final-sweep', description: 'skip that last walk, also on Redis' },
  ];
}

/** `finalSweep` for the engine when a flag gave it */
export function finalSweepFrom(o: { finalSweep?: boolean }): { finalSweep?: boolean } {
  return o.finalSweep !== undefined ? { finalSweep: o.finalSweep } : {};
}

export function workerOptionSpecs(
  job: string,
  defaults: { batchSize: number; concurrency: Default; partitions: Default },
): OptionSpec[] {
  return [
    {
      flags: '--batch-size <n>',
      description: `documents per batch (one page read, ${job === 'backfill' ? 'one write batch, ' : ''}one checkpoint)`,
      defaultValue: defaults.batchSize,
      positiveInt: true,
    },
    {
      flags: '--concurrency <n>',
      description: 'partitions this process works on at once',
      ...defaulted(defaults.concurrency),
      positiveInt: true,
    },
    {
      flags: '--rate <docs-per-second>',
      description:
        'a rate limit for this process (token bucket); adaptive back-off slows it further when the store struggles',
      positiveInt: true,
    },
    {
      flags: '--partitions <n>',
      description: `how many partitions to split the work into (the first worker of a ${job} decides; use several times the number of workers)`,
      ...defaulted(defaults.partitions),
      positiveInt: true,
    },
    {
      flags: '--worker-id <id>',
      description: "this worker's name in leases and the audit log",
      defaultDescription: 'hostname:pid',
    },
    {
      flags: '--lease-ttl <ms>',
      description:
        'how long a lease lives without renewal; a worker on another host is taken over after this',
      defaultValue: DEFAULT_LEASE_TTL_MS,
      positiveInt: true,
    },
  ];
}

/** The engine's worker options from the flags (heartbeats on: /metrics reads them). */
export function workerOptionsFrom(o: WorkerCliOptions, signal?: AbortSignal): WorkerOptions {
  return {
    batchSize: o.batchSize,
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.rate !== undefined ? { rate: o.rate } : {}),
    ...(o.partitions !== undefined ? { partitions: o.partitions } : {}),
    ...(o.workerId !== undefined ? { workerId: o.workerId } : {}),
    leaseTtlMs: o.leaseTtl ?? DEFAULT_LEASE_TTL_MS,
    ...(signal !== undefined ? { signal } : {}),
    // throttle and batch latencies for /metrics, read by any process from the state store
    heartbeats: true,
  };
}

/** `--job` of pause, resume and throttle: which job of the migration the change is for. */
export const JOB_OPTION: OptionSpec = {
  flags: '--job <backfill|verify|rollback|catch-up>',
  description: 'the job the change is for',
  defaultDescription: 'the rollback while one runs, else the backfill',
};

const CONTROLLED: readonly JobPass[] = [
  JobPass.backfill,
  JobPass.verify,
  JobPass.rollback,
  JobPass.catchup,
];

export function parseJob(text: string | undefined): JobPass | undefined {
  if (text === undefined) return undefined;
  const job = CONTROLLED.find((j) => j === text);
  if (job === undefined)
    throw new UsageError(`--job '${text}': expected one of ${CONTROLLED.join(', ')}`, {
      field: '--job',
    });
  return job;
}
