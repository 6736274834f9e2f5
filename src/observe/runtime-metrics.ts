/**
 * In-process Prometheus metrics of the application runtime (`connect()`), for the application's
 * own /metrics endpoint: `yard.metricsRegistry()` returns the registry these live in.
 *
 * Contract (what the runtime calls, what it gets):
 * - `createRuntimeMetrics(registry?)`: registers the metrics below on `registry` (default: a new
 *   Registry) and returns them. Called again with the same registry, it returns the metrics
 *   already there (no "already registered" error), so two yards can share one registry;
 * - `recordCall({ migration, side, stage, op, ms, failed })` once per call on a side (a call of
 *   several keys counts once): +1 on `switchyard_runtime_reads_total` or `_writes_total`, +1 on
 *   `switchyard_runtime_errors_total` when it failed, and `ms` observed (as seconds) in the
 *   `switchyard_runtime_latency_seconds` histogram (labels migration, side, stage, op);
 * - `recordComparison({ migration, stage, mismatched, candidateError })` once per shadow
 *   comparison: +1 on `switchyard_runtime_comparisons_total`, and on
 *   `switchyard_runtime_mismatches_total` when the new side differed, or
 *   `switchyard_runtime_candidate_errors_total` when the new side failed, or
 *   `switchyard_runtime_discarded_total` when the old document was written after it was read (no
 *   comparison then either: runtime/shadow.ts);
 * - `recordFallback({ migration, stage, reason, keys })` when a read in live was answered by the
 *   old side for `keys` keys: +keys on `switchyard_runtime_fallbacks_total` (label `reason`:
 *   `missing`, the new side had no document; `failed`, its read failed; runtime/fallback.ts);
 * - `side` is 'old' | 'new'; `stage` is the stage in force when the call was made; label values
 *   are migration ids and stage names only (bounded): never keys, paths or values;
 * - these are true counters for the process's life; the state store's per-window view of every
 *   instance is `renderProjectMetrics` (`switchyard_runtime_window_*`).
 */
import { Counter, Histogram, Registry } from 'prom-client';

/** latency bucket upper bounds, seconds (the runtime counters' buckets, 0.25 ms to 8.2 s) */
export const RUNTIME_LATENCY_BUCKETS_S: readonly number[] = [
  0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
  2.048, 4.096, 8.192,
];

type SideLabels = 'migration' | 'side' | 'stage';
type StageLabels = 'migration' | 'stage';

export interface RuntimeCall {
  migration: string;
  side: 'old' | 'new';
  stage: string;
  op: 'read' | 'write';
  /** how long the call took, ms */
  ms: number;
  failed: boolean;
}

export interface RuntimeComparison {
  migration: string;
  stage: string;
  mismatched: boolean;
  /** the new side failed: counted as a candidate error, not a comparison result */
  candidateError?: boolean;
  /** the comparison was discarded (a write after the read): not a comparison result either */
  discarded?: boolean;
}

export interface RuntimeFallback {
  migration: string;
  stage: string;
  /** 'missing' | 'failed' */
  reason: string;
  keys: number;
}

export interface RuntimeMetrics {
  readonly registry: Registry;
  readonly reads: Counter<SideLabels>;
  readonly writes: Counter<SideLabels>;
  readonly errors: Counter<SideLabels>;
  readonly comparisons: Counter<StageLabels>;
  readonly mismatches: Counter<StageLabels>;
  readonly candidateErrors: Counter<StageLabels>;
  readonly discarded: Counter<StageLabels>;
  readonly fallbacks: Counter<StageLabels | 'reason'>;
  readonly latency: Histogram<SideLabels | 'op'>;
  recordCall(call: RuntimeCall): void;
  recordComparison(c: RuntimeComparison): void;
  recordFallback(f: RuntimeFallback): void;
}

export function createRuntimeMetrics(registry: Registry = new Registry()): RuntimeMetrics {
  const registers = [registry];
  const existing = <T>(name: string): T | undefined =>
    registry.getSingleMetric(name) as unknown as T | undefined;
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    existing<Counter<L>>(name) ?? new Counter<L>({ name, help, labelNames, registers });
  const side = ['migration', 'side', 'stage'] as const;
  const stage = ['migration', 'stage'] as const;
  const reads = counter('switchyard_runtime_reads_total', 'reads on a side', side);
  const writes = counter('switchyard_runtime_writes_total', 'writes on a side', side);
  const errors = counter('switchyard_runtime_errors_total', 'failed calls on a side', side);
  const comparisons = counter(
    'switchyard_runtime_comparisons_total',
    'shadow reads compared (old and new both answered)',
    stage,
  );
  const mismatches = counter(
    'switchyard_runtime_mismatches_total',
    'shadow reads whose new side differed from the old',
    stage,
  );
  const candidateErrors = counter(
    'switchyard_runtime_candidate_errors_total',
    'shadow reads whose new side failed',
    stage,
  );
  const discarded = counter(
    'switchyard_runtime_discarded_total',
    'shadow reads not compared: the old document was written after it was read',
    stage,
  );
  const fallbacks = counter(
    'switchyard_runtime_fallbacks_total',
    'keys read in live that the old side answered: the new side had none (missing) or failed',
    [...stage, 'reason'] as const,
  );
  const latencyName = 'switchyard_runtime_latency_seconds';
  const latency =
    existing<Histogram<SideLabels | 'op'>>(latencyName) ??
    new Histogram<SideLabels | 'op'>({
      name: latencyName,
      help: 'call latency on a side',
      labelNames: [...side, 'op'],
      buckets: [...RUNTIME_LATENCY_BUCKETS_S],
      registers,
    });
  return {
    registry,
    reads,
    writes,
    errors,
    comparisons,
    mismatches,
    candidateErrors,
    discarded,
    fallbacks,
    latency,
    recordCall(c) {
      const labels = { migration: c.migration, side: c.side, stage: c.stage };
      (c.op === 'read' ? reads : writes).inc(labels);
      if (c.failed) errors.inc(labels);
      if (Number.isFinite(c.ms) && c.ms >= 0) latency.observe({ ...labels, op: c.op }, c.ms / 1000);
    },
    recordComparison(c) {
      const labels = { migration: c.migration, stage: c.stage };
      if (c.candidateError === true) {
        candidateErrors.inc(labels);
        return;
      }
      if (c.discarded === true) {
        discarded.inc(labels);
        return;
      }
      comparisons.inc(labels);
      if (c.mismatched) mismatches.inc(labels);
    },
    recordFallback(f) {
      fallbacks.inc({ migration: f.migration, stage: f.stage, reason: f.reason }, f.keys);
    },
  };
}
