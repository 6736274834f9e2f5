/**
 * What a worker reads of its job's controls (control.ts: pause, rate, batch size in the catalog
 * entry) before every batch, and how it waits while paused.
 *
 * Rules:
 * - the lanes of one process share a read that is under 20 ms old (a batch never starts on a
 *   flag older than that);
 * - a rate set in the catalog wins over the rate the worker was started with; a worker started
 *   without one follows the catalog's (none: unlimited);
 * - a batch size set in the catalog replaces the worker's from the next page on;
 * - the job sees the entry at every read (`onControl`) and may ask the run to stop;
 * - outside the change windows (windows.ts), when given, the worker is paused as if by an
 *   operator (`by: 'window'`, the reason says until when), without touching the catalog: every
 *   worker reads the same windows and the same clock, and resumes by itself when one opens;
 * - a paused worker keeps its lease alive (renewed every 500 ms) and says `paused` and `resumed`
 *   once each.
 */
import type { Catalog } from '../../state/catalog.js';
import type { Lease } from '../../state/partitions.js';
import { controlOf, type JobControl } from './control.js';
import type { Job, RunnerEvent } from './job.js';
import { sleep, type Throttle } from './throttle.js';
import { describeWait, type WindowSchedule, type WindowState } from './windows.js';

export interface ControlReaderDeps {
  catalog: Catalog;
  job: Pick<Job<{ key: string }>, 'migration' | 'pass' | 'onControl'>;
  throttle: Throttle;
  /** the rate the worker was started with */
  rate: number | undefined;
  batchSize: number;
  retrying<T>(what: string, fn: () => Promise<T>): Promise<T>;
  emit(e: RunnerEvent): void;
  /** the job asked the run to stop, saying why */
  stop(reason: string): void;
  /** the change windows the job may write in (none: always) */
  windows?: WindowSchedule | undefined;
  /** epoch ms now (default Date.now; tests inject one) */
  clock?: (() => number) | undefined;
}

export class ControlReader {
  control: JobControl = { paused: false };
  /** where the clock stands in the change windows, when there are any */
  window: WindowState | undefined;
  /** the page size, as the worker was started or the catalog says */
  batchSize: number;
  readonly #d: ControlReaderDeps;
  #readAt = 0;
  /** the control as the catalog entry has it */
  #stored: JobControl = { paused: false };
  #announced = false;

  constructor(deps: ControlReaderDeps) {
    this.#d = deps;
    this.batchSize = deps.batchSize;
  }

  async read(force = false): Promise<void> {
    const now = Date.now();
    if (force || now - this.#readAt >= 20) {
      this.#readAt = now;
      const { job, throttle } = this.#d;
      const entry = await this.#d.retrying('catalog', () => this.#d.catalog.get(job.migration));
      const reason = job.onControl?.(entry);
      if (reason !== undefined) this.#d.stop(reason);
      const control = controlOf(entry, job.pass);
      this.#stored = control;
      if (this.#d.rate === undefined || control.rate !== undefined) {
        const rate = control.rate ?? this.#d.rate ?? 0;
        if (rate !== throttle.rate) throttle.setRate(rate);
      }
      if (control.batchSize !== undefined) this.batchSize = control.batchSize;
    }
    // the windows at every read, cached or not: no batch starts after a window's end
    const window = this.#d.windows?.at((this.#d.clock ?? Date.now)());
    this.window = window;
    this.control =
      window !== undefined && !window.open && !this.#stored.paused
        ? { ...this.#stored, paused: true, reason: describeWait(window), by: 'window' }
        : this.#stored;
  }

  /**
   * Read the control; while paused, renew the lease and wait. Returns the lease as last renewed,
   * when not paused or when `halted()` (stopped, aborted).
   */
  async waitWhilePaused(
    lease: Lease,
    renew: (lease: Lease) => Promise<Lease>,
    halted: () => boolean,
    signal: AbortSignal | undefined,
  ): Promise<Lease> {
    for (;;) {
      await this.read();
      if (!this.control.paused) {
        if (this.#announced) {
          this.#announced = false;
          this.#d.emit({ type: 'resumed' });
        }
        return lease;
      }
      if (!this.#announced) {
        this.#announced = true;
        this.#d.emit({ type: 'paused', reason: this.control.reason ?? 'paused' });
      }
      if (halted()) return lease;
      lease = await renew(lease);
      await sleep(500, signal);
    }
  }
}
