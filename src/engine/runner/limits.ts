/**
 * What the runner checks after every batch (runner.ts rule 6): the guards (guards.ts) and the
 * contingency thresholds (thresholds.ts), against the counts of all workers and what this worker
 * measured itself (batch latencies, store calls made and failed). A guard trip, or a threshold
 * whose action pauses or rolls back, is the trip that ends the run; the other thresholds
 * (alert, throttle) act and the run goes on. The error budget is a threshold that stands for a
 * guard (`guard: 'error-budget'`): judged as a threshold, it trips as the guard (its message,
 * `guard.trip` in the audit log, a rollback with --auto-rollback).
 */
import { pauseForGuard } from './control.js';
import { checkGuards, errorBudgetTrip, guardInput, type GuardTrip, type Guards } from './guards.js';
import type { JobPass, JobProgress, RunnerEvent } from './job.js';
import type { RunnerContext } from './options.js';
import { fireThreshold } from './threshold-actions.js';
import {
  countingCalls,
  measure,
  measureNow,
  ThresholdWatch,
  type CallCounts,
  type Threshold,
} from './thresholds.js';

/** how many recent latencies are kept (p99 over them) */
const KEEP = 100;

export class RunLimits {
  readonly #ctx: RunnerContext;
  readonly #job: { migration: string; pass: JobPass };
  readonly #guards: Guards | undefined;
  readonly #autoRollback: boolean;
  readonly #watch: ThresholdWatch | undefined;
  readonly #emit: (e: RunnerEvent) => void;
  /** the runner's retries: a firing's writes wait through a store outage like its other calls */
  readonly #retrying: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  readonly #calls: CallCounts = { calls: 0, failed: 0 };
  /** this worker's last batch write latencies, and whole-batch latencies, ms */
  readonly #writeLatencies: number[] = [];
  readonly #batchLatencies: number[] = [];

  constructor(
    ctx: RunnerContext,
    job: { migration: string; pass: JobPass },
    o: { guards?: Guards; thresholds?: readonly Threshold[]; autoRollback?: boolean },
    emit: (e: RunnerEvent) => void,
    retrying: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
  ) {
    this.#retrying = retrying;
    this.#ctx = ctx;
    this.#job = job;
    this.#guards = o.guards;
    this.#autoRollback = o.autoRollback === true;
    if (o.thresholds !== undefined && o.thresholds.length > 0)
      this.#watch = new ThresholdWatch(o.thresholds);
    this.#emit = emit;
  }

  /** `fn`, its attempts counted when it is a data call (errorRate). */
  counting<T>(what: string, fn: () => Promise<T>): () => Promise<T> {
    return countingCalls(what, fn, this.#calls);
  }

  writeLatency(ms: number): void {
    keep(this.#writeLatencies, ms);
  }

  batchLatency(ms: number): void {
    keep(this.#batchLatencies, ms);
  }

  /**
   * Check after a batch; the trip that must end the run (the job is already paused, audited),
   * or undefined. `rates`: the throttle's rate (0: unlimited) and the measured one, for a
   * throttle action.
   */
  async check(
    aggregate: () => Promise<JobProgress>,
    rates: () => { rate: number; measured: number },
    stopped: () => boolean,
  ): Promise<GuardTrip | undefined> {
    const retrying = this.#retrying;
    if (this.#guards === undefined && this.#watch === undefined) return undefined;
    const progress = await aggregate();
    // another lane of this process may have stopped the run meanwhile: it acted already
    if (stopped()) return undefined;
    const input = guardInput(progress, this.#writeLatencies);
    const { scanned, errors, conflicts, deadLetters } = input;
    const counts = { scanned, errors, conflicts, deadLetters };
    const trip = this.#guards !== undefined ? checkGuards(this.#guards, input) : undefined;
    if (trip !== undefined) {
      const rollingBack = this.#autoRollback;
      await retrying('pause', () => pauseForGuard(this.#ctx, this.#job, trip, counts, rollingBack));
      this.#emit({ type: 'guard-trip', trip, autoRollback: rollingBack, counts });
      return trip;
    }
    if (this.#watch === undefined) return undefined;
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    const firings = this.#watch.check(
      measure({
        ...input,
        calls: this.#calls.calls,
        failedCalls: this.#calls.failed,
        batchLatencies: this.#batchLatencies,
        lagMs: num(progress.lagMs),
        mismatched: num(progress.verifyMismatches),
      }),
      measureNow(input),
    );
    for (const firing of firings) {
      if (stopped()) return undefined;
      // a threshold that stands for a guard (the error budget) trips as that guard does
      if (
        firing.guard === 'error-budget' &&
        firing.action !== 'alert' &&
        firing.action !== 'throttle'
      ) {
        const budget = { deadLetters: firing.above, percent: percentOf(firing.and?.above ?? 0) };
        const guardTrip: GuardTrip = {
          ...errorBudgetTrip(budget, input),
          ...(firing.action === 'rollback' ? { action: 'rollback' as const } : {}),
        };
        const rollingBack = this.#autoRollback || firing.action === 'rollback';
        await retrying('pause', () =>
          pauseForGuard(this.#ctx, this.#job, guardTrip, counts, rollingBack),
        );
        this.#emit({ type: 'guard-trip', trip: guardTrip, autoRollback: rollingBack, counts });
        return guardTrip;
      }
      // retried like any store call (a threshold on errors fires when the store is failing); a
      // lost acknowledgement can leave its audit entry twice, never the job dead
      const now = rates();
      const effect = await retrying('threshold', () =>
        fireThreshold(this.#ctx, this.#job, firing, counts, now),
      );
      const { rate, rollbackCommand } = effect;
      this.#emit({ type: 'threshold', firing, job: this.#job.pass, rate, rollbackCommand });
      if (effect.stop !== undefined) return effect.stop;
    }
    return undefined;
  }
}

/** a fraction as a percentage, without float noise (0.07 -> 7) */
function percentOf(fraction: number): number {
  return Number((fraction * 100).toPrecision(12));
}

function keep(into: number[], ms: number): void {
  into.push(ms);
  if (into.length > KEEP) into.shift();
}
