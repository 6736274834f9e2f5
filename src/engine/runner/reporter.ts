/**
 * The progress of a run over every partition and every worker: done/total (the partitions'
 * checkpointed counts, so all workers add up), a smoothed rate and an ETA, the partitions done,
 * the workers holding a live lease, and this worker's throttle. Published in the migration's
 * catalog entry (`progressField` of the job: `progress`, `verifyProgress`, ...) every
 * `progressIntervalMs` and once at the end, and told to the listeners as a `progress` event.
 *
 * Rules: one publication at a time (a slow store skips a tick rather than piling up); a failed
 * periodic publication is dropped (the next one comes); a migration never registered (a verify
 * of a side-by-side migration before anything started) has no entry to publish to.
 */
import { CatalogConflictError, type Catalog, type CatalogEntry } from '../../state/catalog.js';
import {
  addCounts,
  ZERO_COUNTS,
  type PartitionCounts,
  type PartitionState,
} from '../../state/partitions.js';
import { progressField } from './control.js';
import type { Job, JobProgress, RunnerEvent, Units } from './job.js';
import { ProgressMeter } from './progress.js';
import type { WindowView } from './windows.js';

/** What only the running worker knows, for the progress. */
export interface WorkerState {
  throttle: JobProgress['throttle'];
  paused: boolean;
  window?: WindowView;
}

export class ProgressReporter {
  readonly #meter: ProgressMeter;
  #publishing = false;
  #timer: NodeJS.Timeout | undefined;
  /** the partitions as the last aggregate read them */
  #states: PartitionState[] = [];
  /** documents done as of the last aggregate, and by this worker since */
  #done = 0;
  #since = 0;

  constructor(
    readonly catalog: Catalog,
    readonly job: Pick<Job<{ key: string }>, 'pass' | 'migration' | 'progressExtra' | 'published'>,
    readonly units: Units,
    readonly ids: readonly string[],
    readonly total: number,
    readonly worker: () => WorkerState,
    readonly emit: (e: RunnerEvent) => void,
  ) {
    this.#meter = new ProgressMeter(total);
  }

  /** This worker did `n` more documents. */
  add(n: number): void {
    this.#since += n;
  }

  /** The rate and ETA as far as this worker knows (the last aggregate and its own work since). */
  estimate() {
    return this.#meter.snapshot(this.#done + this.#since);
  }

  async aggregate(): Promise<JobProgress> {
    const states = await this.units.states(this.ids);
    this.#states = states;
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
    this.#done = counts.scanned;
    this.#since = 0;
    const snap = this.#meter.snapshot(counts.scanned);
    return {
      ...snap,
      ...counts,
      total: Math.max(this.total, counts.scanned),
      etaSeconds: states.length > 0 && states.every((s) => s.done) ? 0 : snap.etaSeconds,
      partitions: states.length,
      partitionsDone: states.filter((s) => s.done).length,
      workers,
      ...(await this.job.progressExtra?.(states)),
      ...this.worker(),
    };
  }

  /** Aggregate the progress, publish it in the catalog entry, and tell the listeners. */
  async publish(): Promise<JobProgress> {
    const p = await this.aggregate();
    const { throttle: _t, workers: _w, ...rest } = p;
    const stored = this.job.published?.(p, this.#states) ?? {
      ...rest,
      workers: p.workers.length,
      updatedAt: new Date().toISOString(),
    };
    const field = progressField(this.job.pass);
    await this.catalog
      .update(this.job.migration, (e: CatalogEntry) => ({ ...e, [field]: stored }))
      .catch((err: unknown) => {
        if (!(err instanceof CatalogConflictError)) throw err;
      });
    this.emit({ type: 'progress', progress: p });
    return p;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      if (this.#publishing) return;
      this.#publishing = true;
      this.publish()
        .catch(() => undefined)
        .finally(() => {
          this.#publishing = false;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
