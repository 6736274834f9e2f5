/**
 * Gates: the conditions a side-by-side migration must meet, over a window of the runtime's
 * published counters (runtime/counters.ts), before a step forward.
 *
 *   --gate "mismatch<0.1%,errors<0.5%,p99<1.2x"  --window 60s  --min-samples 100
 *
 * Rules:
 * - a gate is `<metric><op><limit>`, `op` is `<` or `<=`. Metrics: `mismatch` (mismatched /
 *   compared shadow reads) and `errors` (failed calls / calls), limits as a percent (`0.1%`) or a
 *   fraction (`0.001`); `p50` and `p99`, the new side's latency percentile as a multiple of the
 *   old side's (`1.2x`; a breach must also be RATIO_SLACK_MS slower, since ratios of
 *   sub-millisecond latencies are noise) or in milliseconds (`50ms`);
 * - shadow comparisons the runtime discarded (the document was written after it was read) are
 *   not comparisons: the mismatch check names how many there were, in its note; reads in live
 *   answered by the old side (fallbacks: a failed read is also a failed call) are named in the
 *   errors check's note;
 * - a check is `pass`, `fail` or `pending`: pending when the window holds too little to judge
 *   (fewer than `minSamples` comparisons for mismatch, calls for errors, latencies on a side
 *   for p50/p99). A report passes only when every check passes; it `failed` when one fails (a
 *   breach: step back) and is otherwise `pending` (not enough traffic: hold, do not advance);
 * - the last report of each migration is kept in the state store (`_sy_gates`, keyed by
 *   migration id) for `status` and the dashboard; callers also append it to the audit log;
 * - gates are contingency thresholds whose action is `block` (runner/thresholds.ts): each gate
 *   judges one threshold metric (`gateMetric`: mismatch is shadowMismatchRate, errors
 *   runtimeErrorRate, p99<1.2x newP99Ratio, p99<50ms newP99Ms, ...) with the same `judgeLevel`
 *   as the jobs' thresholds; `--gate` is a shorthand for such thresholds, and without it the
 *   config's `block` thresholds are the gates (`gatesFromThresholds`, written `<=`: a threshold
 *   fires strictly above its level). A metric not judged yet is a pending check.
 */
import { UsageError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import type { Store } from '../store/contract.js';
import {
  isGateMetric,
  judgeLevel,
  type GateThresholdMetric,
  type Level,
  type Threshold,
} from './runner/thresholds.js';

export const GATES_COLLECTION = '_sy_gates';
export const DEFAULT_MIN_SAMPLES = 100;
/** a latency ratio check fails only when the new side is also this much slower, ms */
export const RATIO_SLACK_MS = 2;

export type GateMetric = 'mismatch' | 'errors' | 'p50' | 'p99';

export interface Gate {
  readonly metric: GateMetric;
  readonly op: '<' | '<=';
  readonly limit: number;
  /** `ratio`: new / old; `ms`: the new side's latency; `rate`: a fraction */
  readonly unit: 'rate' | 'ratio' | 'ms';
  /** as written, for reports */
  readonly text: string;
}

/** What a gate needs of a window (runtime/counters.ts RuntimeWindow has it). */
export interface GateWindow {
  readonly windowMs: number;
  readonly compared: number;
  /** shadow reads discarded because the document was written after the read (not compared) */
  readonly discarded?: number;
  /** keys read in live that the old side answered (runtime/fallback.ts) */
  readonly fallbacks?: number;
  readonly mismatchRate: number | null;
  readonly errorRate: number | null;
  readonly old: GateSide;
  readonly new: GateSide;
}

interface GateSide {
  readonly reads: number;
  readonly writes: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export type CheckResult = 'pass' | 'fail' | 'pending';

export interface GateCheck {
  readonly name: string;
  readonly value: number | null;
  readonly limit: string;
  readonly result: CheckResult;
  readonly passed: boolean;
  /** why, when it is pending or failed */
  readonly note?: string;
}

export interface GateReport {
  readonly migration: string;
  readonly at: string;
  readonly passed: boolean;
  readonly result: CheckResult;
  readonly windowMs: number;
  /** where the migration stood when the gate was checked */
  readonly stage?: string;
  readonly percent?: number;
  readonly checks: readonly GateCheck[];
}

const GATE = /^\s*(mismatch|errors|p50|p99)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(%|x|ms)?\s*$/;

export function parseGates(spec: string, flag = '--gate'): Gate[] {
  const parts = spec.split(',').filter((p) => p.trim() !== '');
  if (parts.length === 0)
    throw new UsageError(`${flag} is empty: give e.g. "mismatch<0.1%,errors<0.5%,p99<1.2x"`, {
      field: flag,
    });
  return parts.map((text) => {
    const m = GATE.exec(text);
    if (m === null)
      throw new UsageError(
        `${flag}: cannot read '${text.trim()}': a gate is <metric><op><limit> with metric mismatch, errors, p50 or p99 and op < or <= (e.g. mismatch<0.1%, p99<1.2x, p99<50ms)`,
        { field: flag },
      );
    const metric = m[1] as GateMetric;
    const op = m[2] as '<' | '<=';
    const n = Number(m[3]);
    const suffix = m[4];
    const isRate = metric === 'mismatch' || metric === 'errors';
    if (isRate && (suffix === 'x' || suffix === 'ms'))
      throw new UsageError(
        `${flag}: '${text.trim()}': ${metric} is a rate: write a percent like 0.5%`,
        {
          field: flag,
        },
      );
    if (!isRate && (suffix === undefined || suffix === '%'))
      throw new UsageError(
        `${flag}: '${text.trim()}': ${metric} is a latency: write a ratio to the old side (1.2x) or milliseconds (50ms)`,
        { field: flag },
      );
    const limit = suffix === '%' ? n / 100 : n;
    if (isRate && limit > 1)
      throw new UsageError(`${flag}: '${text.trim()}': a rate above 100% always passes`, {
        field: flag,
      });
    return {
      metric,
      op,
      limit,
      unit: isRate ? 'rate' : suffix === 'x' ? 'ratio' : 'ms',
      text: text.trim(),
    };
  });
}

const DURATION = /^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `60s`, `5m`, `1h`; a bare number is seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = DURATION.exec(text);
  if (m === null)
    throw new UsageError(`${flag}: cannot read '${text}' as a duration (e.g. 500ms, 60s, 5m, 1h)`, {
      field: flag,
    });
  const ms = Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS];
  if (!(ms > 0))
    throw new UsageError(`${flag} must be more than zero, got '${text}'`, { field: flag });
  return ms;
}

export function evaluateGates(
  migration: string,
  gates: readonly Gate[],
  w: GateWindow,
  options: { minSamples?: number; stage?: string; percent?: number; now?: Date } = {},
): GateReport {
  const min = options.minSamples ?? DEFAULT_MIN_SAMPLES;
  const checks = gates.map((g) => check(g, w, min));
  const result: CheckResult = checks.some((c) => c.result === 'fail')
    ? 'fail'
    : checks.every((c) => c.result === 'pass')
      ? 'pass'
      : 'pending';
  return {
    migration,
    at: (options.now ?? new Date()).toISOString(),
    passed: result === 'pass',
    result,
    windowMs: w.windowMs,
    ...(options.stage !== undefined ? { stage: options.stage } : {}),
    ...(options.percent !== undefined ? { percent: options.percent } : {}),
    checks,
  };
}

/** The threshold metric a gate judges (`mismatch<0.1%` judges shadowMismatchRate). */
export function gateMetric(g: Pick<Gate, 'metric' | 'unit'>): GateThresholdMetric {
  switch (g.metric) {
    case 'mismatch':
      return 'shadowMismatchRate';
    case 'errors':
      return 'runtimeErrorRate';
    case 'p50':
      return g.unit === 'ms' ? 'newP50Ms' : 'newP50Ratio';
    default:
      return g.unit === 'ms' ? 'newP99Ms' : 'newP99Ratio';
  }
}

const GATE_OF: Record<GateThresholdMetric, Pick<Gate, 'metric' | 'unit'>> = {
  shadowMismatchRate: { metric: 'mismatch', unit: 'rate' },
  runtimeErrorRate: { metric: 'errors', unit: 'rate' },
  newP50Ratio: { metric: 'p50', unit: 'ratio' },
  newP99Ratio: { metric: 'p99', unit: 'ratio' },
  newP50Ms: { metric: 'p50', unit: 'ms' },
  newP99Ms: { metric: 'p99', unit: 'ms' },
};

/**
 * A gate as a threshold of the config: `--gate "mismatch<=0.1%"` is `{ metric:
 * 'shadowMismatchRate', above: 0.001, action: 'block' }`; a gate written with `<` also blocks AT
 * its limit (`orEqual`).
 */
export function gateThreshold(g: Gate): Threshold & Level {
  return { metric: gateMetric(g), above: g.limit, action: 'block', orEqual: g.op === '<' };
}

/**
 * The gates the config's `block` thresholds make for one migration (those without `migration`,
 * or with its id), in the order written; undefined when there are none.
 */
export function gatesFromThresholds(
  thresholds: readonly Threshold[],
  migrationId: string,
): Gate[] | undefined {
  const gates = thresholds
    .filter(
      (t) =>
        t.action === 'block' &&
        isGateMetric(t.metric) &&
        (t.migration === undefined || t.migration === migrationId),
    )
    .map((t): Gate => {
      const { metric, unit } = GATE_OF[t.metric as GateThresholdMetric];
      const shown =
        unit === 'rate'
          ? `${+(t.above * 100).toPrecision(6)}%`
          : `${t.above}${unit === 'ratio' ? 'x' : 'ms'}`;
      return { metric, op: '<=', limit: t.above, unit, text: `${metric}<=${shown}` };
    });
  return gates.length > 0 ? gates : undefined;
}

/**
 * What the window says of a gate's metric: its value, whether there is enough to judge it, and
 * a note (why it is pending, what was left out); `pass`: judged within whatever the level (a
 * latency ratio within RATIO_SLACK_MS of the old side).
 */
function observe(
  g: Gate,
  w: GateWindow,
  min: number,
): { value: number | null; judged: boolean; note?: string; pass?: string } {
  if (g.metric === 'mismatch') {
    const discarded = w.discarded ? `${w.discarded} discarded (written after the read)` : '';
    if (w.mismatchRate === null || w.compared < min)
      return {
        value: w.mismatchRate,
        judged: false,
        note: `${w.compared} comparisons in the window, ${min} needed${discarded && `; ${discarded}`}`,
      };
    return { value: w.mismatchRate, judged: true, ...(discarded ? { note: discarded } : {}) };
  }
  if (g.metric === 'errors') {
    const calls = w.old.reads + w.old.writes + w.new.reads + w.new.writes;
    const fell = w.fallbacks ? `${w.fallbacks} keys answered by the old side (fallback)` : '';
    if (w.errorRate === null || calls < min)
      return {
        value: w.errorRate,
        judged: false,
        note: `${calls} calls in the window, ${min} needed${fell && `; ${fell}`}`,
      };
    return { value: w.errorRate, judged: true, ...(fell ? { note: fell } : {}) };
  }
  const pick = (s: GateSide) => (g.metric === 'p50' ? s.p50Ms : s.p99Ms);
  const neu = pick(w.new);
  const newCalls = w.new.reads + w.new.writes;
  if (neu === null || newCalls < min)
    return {
      value: null,
      judged: false,
      note: `${newCalls} calls on the new side in the window, ${min} needed`,
    };
  if (g.unit === 'ms') return { value: neu, judged: true };
  const old = pick(w.old);
  const oldCalls = w.old.reads + w.old.writes;
  if (old === null || oldCalls < min)
    return {
      value: null,
      judged: false,
      note: `${oldCalls} calls on the old side in the window, ${min} needed`,
    };
  const ratio = neu / Math.max(old, 1e-9);
  // a ratio of sub-millisecond latencies is noise (one event-loop hiccup is 5x): a breach must
  // also be RATIO_SLACK_MS slower in absolute terms
  if (neu - old < RATIO_SLACK_MS)
    return { value: ratio, judged: true, pass: `within ${RATIO_SLACK_MS} ms of the old side` };
  return { value: ratio, judged: true };
}

/** One gate over the window: the level judged as every threshold is (judgeLevel). */
function check(g: Gate, w: GateWindow, min: number): GateCheck {
  const limit =
    g.unit === 'rate'
      ? `${g.op}${+(g.limit * 100).toPrecision(6)}%`
      : `${g.op}${g.limit}${g.unit === 'ratio' ? 'x' : 'ms'}`;
  const out = (value: number | null, result: CheckResult, note?: string): GateCheck => ({
    name: g.metric,
    value,
    limit,
    result,
    passed: result === 'pass',
    ...(note !== undefined ? { note } : {}),
  });
  const seen = observe(g, w, min);
  if (!seen.judged) return out(seen.value, 'pending', seen.note);
  if (seen.pass !== undefined) return out(seen.value, 'pass', seen.pass);
  const level = gateThreshold(g);
  const verdict = judgeLevel(level, { [level.metric]: seen.value });
  return out(seen.value, verdict === 'above' ? 'fail' : 'pass', seen.note);
}

/** One line per check, for the CLI and the audit log. */
export function describeReport(r: GateReport): string {
  const show = (c: GateCheck) => {
    const v =
      c.value === null
        ? 'n/a'
        : c.name === 'mismatch' || c.name === 'errors'
          ? `${+(c.value * 100).toPrecision(4)}%`
          : c.limit.endsWith('ms')
            ? `${+c.value.toPrecision(4)}ms`
            : `${+c.value.toPrecision(4)}x`;
    return `${c.name} ${v} (${c.limit}) ${c.result}${c.note !== undefined ? `: ${c.note}` : ''}`;
  };
  return r.checks.map(show).join('; ');
}

export async function recordGate(stateStore: Store, report: GateReport): Promise<void> {
  await stateStore
    .collection(GATES_COLLECTION)
    .write([{ type: 'put', key: report.migration, doc: report as unknown as Doc }]);
}

export async function readLastGate(
  stateStore: Store,
  migrationId: string,
): Promise<GateReport | null> {
  const [got] = await stateStore.collection(GATES_COLLECTION).getMany([migrationId]);
  return (got?.doc as unknown as GateReport | undefined) ?? null;
}
