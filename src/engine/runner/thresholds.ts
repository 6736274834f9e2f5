/**
 * Contingency thresholds: a metric of a running job, a level, and what happens once the metric
 * is above it (alert, throttle, pause, roll back). They are written in one place, the config's
 * `thresholds` (config/config-schema.ts), and checked by the runner after every batch, beside
 * the guards (guards.ts), which are thresholds whose action is pause (or rollback with
 * `--auto-rollback`): `guardThresholds` gives that mapping.
 *
 * Rules:
 * - a threshold fires when its metric is strictly above `above` (so `above: 0` fires on the
 *   first one); a metric that is not measured yet (too few samples, or not one this job has) is
 *   never judged: a rate once GUARD_MIN_SCANNED documents were scanned (errorRate once
 *   THRESHOLD_MIN_CALLS store calls were made), p99 once GUARD_MIN_BATCHES batches were written;
 * - it fires on the way up only: once fired it stays quiet until the metric is back at or below
 *   its level, then may fire again (so a throttle halves the rate once per excursion, not once
 *   per batch);
 * - `throttle` halves the job's rate (its current effective rate when it had none) through the
 *   job's control in the catalog, the way `switchyard throttle` does, for every worker; never
 *   below MIN_THROTTLED_RATE;
 * - `pause` pauses the job the way `switchyard pause` does (resumable with `switchyard resume`)
 *   and ends this run; `rollback` does the same, then a backfill rolls the migration back (as
 *   `--auto-rollback` does); for the other jobs it only pauses and says the exact rollback
 *   command (docs/guides/thresholds.md);
 * - every firing is appended to the audit log (`threshold`, naming the metric, its value, the
 *   level and the action) and emitted as a `threshold` event.
 */
import { GUARD_MIN_BATCHES, GUARD_MIN_SCANNED, p99, type Guards } from './guards.js';

/**
 * The metrics the side-by-side gates judge, over a window of the runtime's counters
 * (engine/gates.ts), before a stage step and not by a job: thresholds on them `block` it.
 */
export const GATE_METRICS = [
  /** mismatched / compared shadow reads (the gate `mismatch`) */
  'shadowMismatchRate',
  /** failed / all runtime calls, both sides (the gate `errors`) */
  'runtimeErrorRate',
  /** the new side's p50 / the old side's (the gate `p50<1.2x`) */
  'newP50Ratio',
  /** the new side's p99 / the old side's (the gate `p99<1.2x`) */
  'newP99Ratio',
  /** the new side's p50, ms (the gate `p50<50ms`) */
  'newP50Ms',
  /** the new side's p99, ms (the gate `p99<50ms`) */
  'newP99Ms',
] as const;

export const THRESHOLD_METRICS = [
  /** failed store calls / store calls of the job's data reads and writes (what --chaos injects) */
  'errorRate',
  /** documents sent to the dead letters, counted */
  'deadLetters',
  /** documents that failed / documents scanned (the guard `error-rate`) */
  'deadLetterRate',
  /** conflicting writes / documents scanned */
  'conflictRate',
  /** the 99th percentile of this worker's batch write latency (batch latency for a job that does not write), ms */
  'p99LatencyMs',
  /** catch-up: how far behind the change feed it is, ms */
  'lag',
  /** verify: documents that are not what the migration should have produced */
  'verifyMismatches',
  ...GATE_METRICS,
] as const;
export type ThresholdMetric = (typeof THRESHOLD_METRICS)[number];

export type GateThresholdMetric = (typeof GATE_METRICS)[number];

export function isGateMetric(m: ThresholdMetric): m is GateThresholdMetric {
  return (GATE_METRICS as readonly string[]).includes(m);
}

/** `block`: a gate: the stage step (advance, cutover) is refused while the metric is above. */
export const THRESHOLD_ACTIONS = ['alert', 'throttle', 'pause', 'rollback', 'block'] as const;
export type ThresholdAction = (typeof THRESHOLD_ACTIONS)[number];

/** The jobs a threshold may be limited to (`job`). */
export const THRESHOLD_JOBS = ['backfill', 'verify', 'rollback', 'catch-up'] as const;
export type ThresholdJob = (typeof THRESHOLD_JOBS)[number];

/** errorRate is judged once the job made this many store calls. */
export const THRESHOLD_MIN_CALLS = 100;
/** a throttle never takes a job below this many documents per second */
export const MIN_THROTTLED_RATE = 1;

/** The guard a threshold stands for: its trip is reported as that guard's (`guard.trip`). */
export const THRESHOLD_GUARDS = ['error-budget'] as const;
export type ThresholdGuard = (typeof THRESHOLD_GUARDS)[number];

/**
 * A metric and a level: the one test every threshold, guard and gate makes (`judgeLevel`).
 * `orEqual`: at the level counts as over it too (a gate written `mismatch<0.1%` fails at 0.1%).
 */
export interface Level<M extends string = string> {
  readonly metric: M;
  readonly above: number;
  readonly orEqual?: boolean;
}

/**
 * `above` when the metric is over its level, `within` when not, undefined when it is not
 * measured (yet): a metric not measured is never judged. Shared by the job thresholds (here),
 * the guards and the side-by-side gates (engine/gates.ts).
 */
export function judgeLevel(
  level: Level,
  metrics: Readonly<Record<string, number | null | undefined>>,
): 'above' | 'within' | undefined {
  const v = metrics[level.metric];
  if (v === undefined || v === null) return undefined;
  return v > level.above || (level.orEqual === true && v === level.above) ? 'above' : 'within';
}

export interface Threshold {
  readonly metric: ThresholdMetric;
  /** fires when the metric is strictly above this */
  readonly above: number;
  readonly action: ThresholdAction;
  /** only for this migration id (default: every one) */
  readonly migration?: string;
  /** only for this kind of job (default: every one) */
  readonly job?: ThresholdJob;
  /**
   * a second level that must be exceeded too (the error budget: more than 10 dead letters AND
   * more than 1% of the documents scanned); judged on the metric as it stands, however few
   * samples: the first level is the minimum
   */
  readonly and?: { readonly metric: ThresholdMetric; readonly above: number };
  /** the guard this threshold is (its trip is that guard's: `guard.trip`, exit 1) */
  readonly guard?: ThresholdGuard;
}

/** The metrics of a job as the runner measured them; absent: not measured (yet). */
export type ThresholdMetrics = Partial<Record<ThresholdMetric, number>>;

export interface ThresholdFiring {
  readonly metric: ThresholdMetric;
  readonly value: number;
  readonly above: number;
  readonly action: ThresholdAction;
  readonly message: string;
  /** the guard the threshold stands for */
  readonly guard?: ThresholdGuard;
  /** its `and` level, as it stood */
  readonly and?: {
    readonly metric: ThresholdMetric;
    readonly value: number;
    readonly above: number;
  };
}

/** `errorRate > 0.05: throttle`, `deadLetters > 10 and deadLetterRate > 0.01: pause (...)` */
export function describeThreshold(t: Threshold): string {
  const scope = [
    ...(t.guard !== undefined ? [t.guard] : []),
    ...(t.migration !== undefined ? [`migration ${t.migration}`] : []),
    ...(t.job !== undefined ? [`${t.job} only`] : []),
  ];
  const and = t.and !== undefined ? ` and ${t.and.metric} > ${t.and.above}` : '';
  return `${t.metric} > ${t.above}${and}: ${t.action}${scope.length > 0 ? ` (${scope.join(', ')})` : ''}`;
}

/** The thresholds that apply to one job of one migration. */
export function thresholdsFor(
  all: readonly Threshold[] | undefined,
  migration: string,
  job: ThresholdJob,
): Threshold[] {
  // a `block` threshold is a gate (engine/gates.ts gatesFromThresholds), no job's
  return (all ?? []).filter(
    (t) =>
      t.action !== 'block' &&
      (t.migration === undefined || t.migration === migration) &&
      (t.job ?? job) === job,
  );
}

/**
 * Today's guards as thresholds (what `--guard` and `--max-errors` mean): each a pause, or a
 * rollback with `--auto-rollback`. The error budget is a threshold of its own, in the config's
 * list (engine/error-budget.ts `errorBudgetThreshold`).
 */
export function guardThresholds(g: Guards, autoRollback = false): Threshold[] {
  const action: ThresholdAction = autoRollback ? 'rollback' : 'pause';
  const out: Threshold[] = [];
  if (g.errorRatePercent !== undefined)
    out.push({ metric: 'deadLetterRate', above: g.errorRatePercent / 100, action });
  if (g.conflictRatePercent !== undefined)
    out.push({ metric: 'conflictRate', above: g.conflictRatePercent / 100, action });
  if (g.deadLetters !== undefined)
    out.push({ metric: 'deadLetters', above: g.deadLetters, action });
  if (g.p99WriteMs !== undefined) out.push({ metric: 'p99LatencyMs', above: g.p99WriteMs, action });
  return out;
}

/** What the runner knows after a batch, turned into metrics (absent where not judged yet). */
export function measure(x: {
  scanned: number;
  errors: number;
  conflicts: number;
  deadLetters: number;
  calls: number;
  failedCalls: number;
  writeLatencies: readonly number[];
  batchLatencies: readonly number[];
  lagMs?: number | undefined;
  mismatched?: number | undefined;
}): ThresholdMetrics {
  const m: ThresholdMetrics = { deadLetters: x.deadLetters };
  if (x.calls >= THRESHOLD_MIN_CALLS) m.errorRate = x.failedCalls / x.calls;
  if (x.scanned >= GUARD_MIN_SCANNED) {
    m.deadLetterRate = x.errors / x.scanned;
    m.conflictRate = x.conflicts / x.scanned;
  }
  const latencies = x.writeLatencies.length > 0 ? x.writeLatencies : x.batchLatencies;
  if (latencies.length >= GUARD_MIN_BATCHES) m.p99LatencyMs = Math.round(p99(latencies));
  if (x.lagMs !== undefined) m.lag = x.lagMs;
  if (x.mismatched !== undefined) m.verifyMismatches = x.mismatched;
  return m;
}

/**
 * The rates as they stand however few documents were scanned (0 before the first), for a
 * threshold's `and` level: its first level is what keeps a small sample from judging.
 */
export function measureNow(x: {
  scanned: number;
  errors: number;
  conflicts: number;
  deadLetters: number;
}): ThresholdMetrics {
  const rate = (n: number) => (x.scanned === 0 ? 0 : n / x.scanned);
  return {
    deadLetters: x.deadLetters,
    deadLetterRate: rate(x.errors),
    conflictRate: rate(x.conflicts),
  };
}

function show(metric: ThresholdMetric, v: number): string {
  if (metric === 'errorRate' || metric === 'deadLetterRate' || metric === 'conflictRate')
    return `${Number((v * 100).toFixed(2))}%`;
  if (metric === 'p99LatencyMs' || metric === 'lag') return `${v} ms`;
  return String(v);
}

/**
 * The thresholds of one run and which of them are fired (see the rules: a threshold fires on
 * the way up, and again only after its metric came back to its level).
 */
export class ThresholdWatch {
  readonly thresholds: readonly Threshold[];
  readonly #fired: boolean[];

  constructor(thresholds: readonly Threshold[]) {
    this.thresholds = thresholds;
    this.#fired = thresholds.map(() => false);
  }

  /**
   * The thresholds that fire now, in the order they were written. `now`: the metrics as they
   * stand however few samples (measureNow), for `and` levels; default `metrics`.
   */
  check(metrics: ThresholdMetrics, now: ThresholdMetrics = metrics): ThresholdFiring[] {
    const out: ThresholdFiring[] = [];
    this.thresholds.forEach((t, i) => {
      const first = judgeLevel(t, metrics);
      if (first === undefined) return;
      const second = t.and === undefined ? first : judgeLevel(t.and, { ...metrics, ...now });
      if (first === 'within' || second !== 'above') {
        this.#fired[i] = false;
        return;
      }
      if (this.#fired[i]) return;
      this.#fired[i] = true;
      const v = metrics[t.metric]!;
      const and =
        t.and !== undefined ? { metric: t.and.metric, value: now[t.and.metric] ?? 0 } : undefined;
      const over =
        and !== undefined
          ? `${t.metric} ${show(t.metric, v)} and ${and.metric} ${show(and.metric, and.value)}, above the threshold of ${show(t.metric, t.above)} and ${show(and.metric, t.and!.above)}`
          : `${t.metric} ${show(t.metric, v)}, above the threshold of ${show(t.metric, t.above)}`;
      out.push({
        metric: t.metric,
        value: Number(v.toFixed(4)),
        above: t.above,
        action: t.action,
        message: `${over}: ${t.action}`,
        ...(t.guard !== undefined ? { guard: t.guard } : {}),
        ...(and !== undefined
          ? { and: { ...and, value: Number(and.value.toFixed(4)), above: t.and!.above } }
          : {}),
      });
    });
    return out;
  }
}

/** The store calls of a job's data reads and writes (not its checkpoints, leases, journal). */
const DATA_CALLS = new Set(['scan', 'write', 'get', 'getMany', 'recheck']);

/** Store calls made and failed, for errorRate. */
export interface CallCounts {
  calls: number;
  failed: number;
}

/** `fn`, counting its attempts and failures into `into` when it is a data call. */
export function countingCalls<T>(
  what: string,
  fn: () => Promise<T>,
  into: CallCounts,
): () => Promise<T> {
  if (!DATA_CALLS.has(what)) return fn;
  return async () => {
    into.calls++;
    try {
      return await fn();
    } catch (err) {
      into.failed++;
      throw err;
    }
  };
}
