/**
 * Guards: limits a backfill checks after every batch. When one trips, the run pauses the
 * migration (and, with auto-rollback, rolls it back), and the trip is recorded in the audit log.
 *
 *   --guard "error-rate<1%,conflict-rate<5%,dead-letters<100,p99<500ms"
 *   --max-errors 100 | 0.5%      (the same as dead-letters<100 | error-rate<0.5%)
 *   --max-errors 10,1%           (the error budget: both exceeded; see ErrorBudget)
 *
 * The error budget is the guard every backfill has unless told otherwise (DEFAULT_ERROR_BUDGET,
 * engine/error-budget.ts): it trips once the dead letters are more than its count AND more than
 * its percentage of the documents scanned, so one bad document in a small collection does not
 * stop a run, and a run that dead-letters everything stops after its first few batches. It is a
 * contingency threshold (`guard: 'error-budget'` in the config's list) judged with the others
 * (thresholds.ts, limits.ts); its trip is reported as this guard's.
 */
import { UsageError } from '../../core/errors.js';
import type { ThresholdMetric } from './thresholds.js';

export interface Guards {
  /** dead letters as a percentage of the documents scanned */
  errorRatePercent?: number;
  /** conflicting writes as a percentage of the documents scanned */
  conflictRatePercent?: number;
  /** dead letters, counted */
  deadLetters?: number;
  /** the 99th percentile of batch write latency, ms (this worker's last 100 batches) */
  p99WriteMs?: number;
  /**
   * the error budget: trips when the dead letters exceed both its count and its percentage.
   * What `--max-errors 10,1%` gives; the backfill turns it into its threshold
   * (engine/error-budget.ts): checkGuards does not judge it
   */
  budget?: ErrorBudget;
}

/** Dead letters a run may leave before it stops: more than both of these trips it. */
export interface ErrorBudget {
  /** dead letters, counted */
  deadLetters: number;
  /** dead letters as a percentage of the documents scanned */
  percent: number;
}

/** The error budget of a backfill (and a side-by-side copy) unless told otherwise. */
export const DEFAULT_ERROR_BUDGET: ErrorBudget = { deadLetters: 10, percent: 1 };

/** The error budget as written for --max-errors: `10,1%`. */
export function formatErrorBudget(b: ErrorBudget): string {
  return `${b.deadLetters},${b.percent}%`;
}

/** Rates are judged once this many documents were scanned, so one early failure is not 100%. */
export const GUARD_MIN_SCANNED = 200;
/** p99 is judged once this many batches were written. */
export const GUARD_MIN_BATCHES = 20;

export interface GuardInput {
  scanned: number;
  errors: number;
  conflicts: number;
  deadLetters: number;
  /** recent batch write latencies, ms */
  writeLatencies: readonly number[];
}

export interface GuardTrip {
  /** `threshold`: a config threshold whose action pauses or rolls back (thresholds.ts) */
  guard: 'error-budget' | 'error-rate' | 'conflict-rate' | 'dead-letters' | 'p99' | 'threshold';
  value: number;
  limit: number;
  message: string;
  /** a threshold's metric */
  metric?: ThresholdMetric;
  /** a threshold's action: `rollback` makes a backfill roll back, as --auto-rollback does */
  action?: 'pause' | 'rollback';
}

export function p99(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
}

/** What the guards look at, from a job's progress over all workers and this worker's latencies. */
export function guardInput(
  p: { scanned: number; errors: number; conflicts: number; deadLetters?: unknown },
  writeLatencies: readonly number[],
): GuardInput {
  const { scanned, errors, conflicts } = p;
  return { scanned, errors, conflicts, deadLetters: Number(p.deadLetters ?? 0), writeLatencies };
}

/** The trip of the error budget (a threshold: engine/error-budget.ts), as the guard it stands for. */
export function errorBudgetTrip(
  b: ErrorBudget,
  x: { scanned: number; deadLetters: number },
): GuardTrip {
  const v = Number((x.scanned === 0 ? 0 : (100 * x.deadLetters) / x.scanned).toFixed(2));
  return {
    guard: 'error-budget',
    value: x.deadLetters,
    limit: b.deadLetters,
    message: `${x.deadLetters} dead letters for ${x.scanned} documents scanned (${v}%), over the error budget of more than ${b.deadLetters} and more than ${b.percent}% (--max-errors ${formatErrorBudget(b)})`,
  };
}

/** The guards other than the error budget (`budget` is judged as a threshold: limits.ts). */
export function checkGuards(g: Guards, x: GuardInput): GuardTrip | undefined {
  const pct = (n: number) => (x.scanned === 0 ? 0 : (100 * n) / x.scanned);
  if (g.deadLetters !== undefined && x.deadLetters > g.deadLetters) {
    return {
      guard: 'dead-letters',
      value: x.deadLetters,
      limit: g.deadLetters,
      message: `${x.deadLetters} dead letters, more than ${g.deadLetters}`,
    };
  }
  if (
    g.errorRatePercent !== undefined &&
    x.scanned >= GUARD_MIN_SCANNED &&
    pct(x.errors) > g.errorRatePercent
  ) {
    const v = Number(pct(x.errors).toFixed(2));
    return {
      guard: 'error-rate',
      value: v,
      limit: g.errorRatePercent,
      message: `error rate ${v}% (${x.errors} of ${x.scanned} documents failed), over ${g.errorRatePercent}%`,
    };
  }
  if (
    g.conflictRatePercent !== undefined &&
    x.scanned >= GUARD_MIN_SCANNED &&
    pct(x.conflicts) > g.conflictRatePercent
  ) {
    const v = Number(pct(x.conflicts).toFixed(2));
    return {
      guard: 'conflict-rate',
      value: v,
      limit: g.conflictRatePercent,
      message: `conflict rate ${v}% (${x.conflicts} conflicting writes for ${x.scanned} documents), over ${g.conflictRatePercent}%: the application is writing hard; slow down or pick a quieter time`,
    };
  }
  if (g.p99WriteMs !== undefined && x.writeLatencies.length >= GUARD_MIN_BATCHES) {
    const v = Math.round(p99(x.writeLatencies));
    if (v > g.p99WriteMs)
      return {
        guard: 'p99',
        value: v,
        limit: g.p99WriteMs,
        message: `p99 batch write latency ${v} ms, over ${g.p99WriteMs} ms`,
      };
  }
  return undefined;
}

/** Parse `--guard` text (comma-separated `name<limit`), merged onto `into`. */
export function parseGuards(text: string, into: Guards = {}): Guards {
  const out: Guards = { ...into };
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9-]+)\s*<\s*(\d+(?:\.\d+)?)\s*(%|ms|s)?$/i.exec(raw);
    const bad = (why: string): never => {
      throw new UsageError(
        `--guard '${raw}': ${why}. Forms: error-rate<1%, conflict-rate<5%, dead-letters<100, p99<500ms`,
        { field: '--guard' },
      );
    };
    if (!m) bad('expected name<limit');
    const [, name, num, unit] = m!;
    const n = Number(num);
    switch (name!.toLowerCase()) {
      case 'error-rate':
        if (unit !== '%') bad('a rate is a percentage');
        out.errorRatePercent = n;
        break;
      case 'conflict-rate':
        if (unit !== '%') bad('a rate is a percentage');
        out.conflictRatePercent = n;
        break;
      case 'dead-letters':
        if (unit !== undefined || !Number.isInteger(n)) bad('dead letters are a whole number');
        out.deadLetters = n;
        break;
      case 'p99':
        if (unit !== 'ms' && unit !== 's') bad('p99 is a duration: 500ms or 2s');
        out.p99WriteMs = unit === 's' ? n * 1000 : n;
        break;
      default:
        bad(`unknown guard '${name}'`);
    }
  }
  return out;
}

/**
 * `--max-errors 100`, `--max-errors 0.5%` (a guard), `--max-errors 10,1%` (an error budget: both
 * exceeded), or `--max-errors off` (none: `{}`).
 */
export function parseMaxErrors(text: string, into: Guards = {}): Guards {
  if (/^\s*off\s*$/i.test(text)) return { ...into };
  const both = /^\s*(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (both) {
    const percent = Number(both[2]);
    if (percent > 100)
      throw new UsageError(`--max-errors: a percentage is at most 100%, got ${text}`, {
        field: '--max-errors',
      });
    return { ...into, budget: { deadLetters: Number(both[1]), percent } };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (!m)
    throw new UsageError(
      `--max-errors takes a count (100), a percentage (0.5%), both (10,1%: more than both) or off, got '${text}'`,
      { field: '--max-errors' },
    );
  const n = Number(m[1]);
  if (m[2] === '%') {
    if (n > 100)
      throw new UsageError(`--max-errors: a percentage is at most 100%, got ${text}`, {
        field: '--max-errors',
      });
    return { ...into, errorRatePercent: n };
  }
  if (!Number.isInteger(n))
    throw new UsageError(`--max-errors: a count is a whole number, got ${text}`, {
      field: '--max-errors',
    });
  return { ...into, deadLetters: n };
}
