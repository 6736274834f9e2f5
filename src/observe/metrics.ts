/**
 * Prometheus metrics of a whole project, read from the state store, so any process can serve
 * them (the dashboard's `GET /metrics`):
 *
 *   res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
 *   res.end(await renderProjectMetrics(project));
 *
 * Rules:
 * - every call builds a fresh prom-client Registry from what the state store holds now: the
 *   catalog (status, stage, the progress the backfill publishes, the throttle settings, the last
 *   verify), the partition documents (checkpointed counts, leases), the dead letters, the worker
 *   heartbeats (throttle, batch latency: worker-heartbeat.ts) and the runtime counters of
 *   side-by-side migrations (runtime-source.ts). Nothing is kept between calls;
 * - names start with `switchyard_`; labels are `migration`, and where they fit `partition`,
 *   `pass` (backfill | verify), `worker`, `side` (old | new), `stage`;
 * - document counts are counters (`_total`): the sums of the partitions' checkpointed counts, so
 *   they equal the backfill's own totals (`BackfillResult.progress`). They start again from 0
 *   when a run starts afresh (a sweep after backfilled, a rollback): a counter reset, which
 *   Prometheus' rate() handles. Without partitions, the catalog's last published progress is used;
 * - the batch latency histogram is the sum of the workers' cumulative histograms;
 * - the runtime's counts are gauges over a window (default the last 60 s), named
 *   `switchyard_runtime_window_*`: the state store keeps deltas for an hour, not totals. An
 *   application that wants counters serves `yard.metricsRegistry()` (createRuntimeMetrics);
 * - no store URL, document or key is ever a label or a value.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { EngineContext } from '../engine/context.js';
import { sideBySideState } from '../engine/stages.js';
import type { CatalogEntry } from '../state/catalog.js';
import { DeadLetters } from '../state/dead-letters.js';
import {
  Partitions,
  ZERO_COUNTS,
  type PartitionCounts,
  type PartitionState,
} from '../state/partitions.js';
import { partitionLabel } from './job-alerts.js';
import { readRuntime } from './runtime-source.js';
import {
  addHistograms,
  asNumber,
  BATCH_LATENCY_BUCKETS_S,
  emptyHistogram,
  readWorkerHeartbeats,
  STALE_AFTER_MS,
  type LatencyHistogram,
  type WorkerHeartbeatDoc,
} from './worker-heartbeat.js';

export { createRuntimeMetrics, type RuntimeMetrics } from './runtime-metrics.js';

/** The Content-Type of renderProjectMetrics' text (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;
/** the window the runtime gauges cover, ms */
export const DEFAULT_RUNTIME_WINDOW_MS = 60_000;
/** mismatching field paths shown per migration, most frequent first */
const TOP_PATHS = 10;

export interface ProjectMetricsOptions {
  /** the runtime window, ms (default 60 000) */
  runtimeWindowMs?: number;
  /** ms since the epoch (tests) */
  now?: number;
}

export type MetricsContext = Pick<EngineContext, 'stateStore' | 'catalog'>;

/** The project's metrics in Prometheus text format. */
export async function renderProjectMetrics(
  ctx: MetricsContext,
  options: ProjectMetricsOptions = {},
): Promise<string> {
  return (await collectProjectMetrics(ctx, options)).metrics();
}

/** The same, as a Registry (to merge with others: `Registry.merge([...])`). */
export async function collectProjectMetrics(
  ctx: MetricsContext,
  options: ProjectMetricsOptions = {},
): Promise<Registry> {
  const registry = new Registry();
  const m = defineMetrics(registry);
  const now = options.now ?? Date.now();
  const windowMs = options.runtimeWindowMs ?? DEFAULT_RUNTIME_WINDOW_MS;
  const [entries, heartbeats] = await Promise.all([
    ctx.catalog.list(),
    readWorkerHeartbeats(ctx.stateStore),
  ]);
  const partitions = new Partitions(ctx.stateStore);
  for (const entry of entries) {
    const id = entry.id;
    const mine = heartbeats.filter((h) => h.migration === id);
    await collectMigration(ctx, m, entry, partitions, mine, now, windowMs);
  }
  return registry;
}

type Metrics = ReturnType<typeof defineMetrics>;

function defineMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const M = ['migration'] as const;
  const latency = new StoredHistogram(
    'switchyard_batch_latency_seconds',
    'backfill batch latency (scan, transform, journal, conditional writes, checkpoint), summed over the workers',
    BATCH_LATENCY_BUCKETS_S,
  );
  registry.registerMetric(latency as unknown as Metric<string>);
  return {
    info: gauge(
      'switchyard_migration_info',
      'one per migration in the catalog (always 1): its collection, kind, status and side-by-side stage',
      ['migration', 'collection', 'kind', 'status', 'stage'],
    ),
    livePercent: gauge(
      'switchyard_migration_live_percent',
      'side by side: the percentage of keys read from the new side',
      M,
    ),
    processed: counter(
      'switchyard_documents_processed_total',
      'documents the backfill read and handled (migrated, skipped, failed)',
      M,
    ),
    migrated: counter(
      'switchyard_documents_migrated_total',
      'documents transformed and written',
      M,
    ),
    skipped: counter(
      'switchyard_documents_skipped_total',
      'documents already at the target version (or already in the target, side by side)',
      M,
    ),
    conflicted: counter(
      'switchyard_documents_conflicted_total',
      'conditional writes that found the document changed by the application (each re-read and retried)',
      M,
    ),
    failed: counter(
      'switchyard_documents_failed_total',
      'documents sent to dead letters (their transform failed)',
      M,
    ),
    partitionProcessed: counter(
      'switchyard_partition_documents_processed_total',
      'documents the backfill read, per partition',
      ['migration', 'partition'],
    ),
    partitionDone: gauge('switchyard_partition_done', '1 when the partition is backfilled', [
      'migration',
      'partition',
    ]),
    partitions: gauge('switchyard_backfill_partitions', 'partitions of the backfill', M),
    partitionsDone: gauge('switchyard_backfill_partitions_done', 'partitions finished', M),
    documents: gauge(
      'switchyard_backfill_documents',
      'documents to go through (the collection size counted when the backfill started)',
      M,
    ),
    rate: gauge(
      'switchyard_backfill_documents_per_second',
      'the backfill rate, smoothed, as last published',
      M,
    ),
    eta: gauge('switchyard_backfill_eta_seconds', 'seconds to go at the current rate', M),
    progressAt: gauge(
      'switchyard_backfill_progress_timestamp_seconds',
      'when the backfill last published its progress',
      M,
    ),
    paused: gauge('switchyard_backfill_paused', '1 when the backfill is paused', M),
    deadLetters: gauge(
      'switchyard_dead_letters',
      'dead letters now (documents whose transform failed, not yet retried successfully)',
      M,
    ),
    leases: gauge('switchyard_leases', 'live leases (partitions a worker holds and renews)', [
      'migration',
      'pass',
    ]),
    workers: gauge('switchyard_workers', 'workers holding at least one live lease', [
      'migration',
      'pass',
    ]),
    rateSetting: gauge(
      'switchyard_throttle_rate_setting',
      'the rate limit set with `switchyard throttle` (documents per second per worker)',
      M,
    ),
    batchSizeSetting: gauge(
      'switchyard_throttle_batch_size_setting',
      'the batch size set with `switchyard throttle`',
      M,
    ),
    workerRate: gauge(
      'switchyard_throttle_rate',
      "a live worker's rate limit, documents per second (0: unlimited)",
      ['migration', 'worker'],
    ),
    workerEffectiveRate: gauge(
      'switchyard_throttle_effective_rate',
      "a live worker's rate in force: the limit times the adaptive factor (0: unlimited)",
      ['migration', 'worker'],
    ),
    workerFactor: gauge(
      'switchyard_throttle_factor',
      "a live worker's adaptive back-off factor (1: full speed)",
      ['migration', 'worker'],
    ),
    workerBatchSize: gauge('switchyard_throttle_batch_size', "a live worker's batch size", [
      'migration',
      'worker',
    ]),
    workerCapacity: counter(
      'switchyard_capacity_units_consumed_total',
      "capacity units a worker's backfill run consumed on the migration's collections, by kind (read, write; DynamoDB)",
      ['migration', 'worker', 'kind'],
    ),
    workerCapacityBudget: gauge(
      'switchyard_capacity_units_budget',
      "a live worker's capacity budget in force, units per second, by kind (0: none; --max-rcu / --max-wcu times the adaptive factor)",
      ['migration', 'worker', 'kind'],
    ),
    latency,
    verifyProcessed: counter(
      'switchyard_verify_documents_processed_total',
      'documents the current (or last) full verify has checked',
      M,
    ),
    verifyCompared: gauge(
      'switchyard_verify_compared_documents',
      'documents the last verify compared',
      M,
    ),
    verifyMismatches: gauge(
      'switchyard_verify_mismatches',
      'what the last verify found wrong, by kind (mismatched, missing, old-version, invariant, schema)',
      ['migration', 'kind'],
    ),
    verifyOk: gauge('switchyard_verify_ok', '1 when the last verify found nothing wrong', M),
    verifyAt: gauge('switchyard_verify_timestamp_seconds', 'when the last verify ended', M),
    rtWindow: gauge(
      'switchyard_runtime_window_seconds',
      'the window the switchyard_runtime_window_* gauges cover',
      M,
    ),
    rtInstances: gauge(
      'switchyard_runtime_window_instances',
      'application instances that published runtime counters in the window',
      M,
    ),
    rtReads: gauge('switchyard_runtime_window_reads', 'reads in the window', [
      'migration',
      'side',
      'stage',
    ]),
    rtWrites: gauge('switchyard_runtime_window_writes', 'writes in the window', [
      'migration',
      'side',
      'stage',
    ]),
    rtErrors: gauge('switchyard_runtime_window_errors', 'failed calls in the window', [
      'migration',
      'side',
      'stage',
    ]),
    rtLatency: gauge(
      'switchyard_runtime_window_latency_seconds',
      'call latency percentiles over the window',
      ['migration', 'side', 'stage', 'quantile'],
    ),
    rtCompared: gauge('switchyard_runtime_window_compared', 'shadow reads compared in the window', [
      'migration',
      'stage',
    ]),
    rtMismatched: gauge(
      'switchyard_runtime_window_mismatches',
      'shadow reads whose new side differed, in the window',
      ['migration', 'stage'],
    ),
    rtCandidateErrors: gauge(
      'switchyard_runtime_window_candidate_errors',
      'shadow reads of the new side that failed, in the window',
      ['migration', 'stage'],
    ),
    rtDiscarded: gauge(
      'switchyard_runtime_window_discarded',
      'shadow reads not compared in the window: the document was written after it was read',
      ['migration', 'stage'],
    ),
    rtFallbacks: gauge(
      'switchyard_runtime_window_fallbacks',
      'keys read in live that the old side answered in the window (the new side had none or failed)',
      ['migration', 'stage'],
    ),
    rtMismatchRatio: gauge(
      'switchyard_runtime_window_mismatch_ratio',
      'mismatches / compared over the window (absent when nothing was compared)',
      ['migration', 'stage'],
    ),
    rtErrorRatio: gauge(
      'switchyard_runtime_window_error_ratio',
      '(failed calls + candidate errors) / calls over the window (absent without traffic)',
      ['migration', 'stage'],
    ),
    rtLatencyRatio: gauge(
      'switchyard_runtime_window_latency_ratio',
      'new p99 / old p99 over the window (absent unless both sides have latencies)',
      ['migration', 'stage'],
    ),
    rtPaths: gauge(
      'switchyard_runtime_window_mismatch_paths',
      `mismatches per field path in the window (the ${TOP_PATHS} most frequent)`,
      ['migration', 'stage', 'path'],
    ),
    rtRepairs: gauge(
      'switchyard_runtime_repairs_pending',
      'entries waiting in the repair queue',
      M,
    ),
  };
}

interface PublishedProgress extends Partial<PartitionCounts> {
  total?: number;
  rate?: number;
  etaSeconds?: number | null;
  updatedAt?: string;
}

interface LastVerify {
  at?: string;
  ok?: boolean;
  compared?: number;
  mismatched?: number;
  missing?: number;
  oldVersion?: number;
  invariantFailures?: number;
  schemaFailures?: number;
}

async function collectMigration(
  ctx: MetricsContext,
  m: Metrics,
  entry: CatalogEntry,
  partitions: Partitions,
  heartbeats: readonly WorkerHeartbeatDoc[],
  now: number,
  windowMs: number,
): Promise<void> {
  const id = entry.id;
  const migration = { migration: id };
  const sbs = entry.kind === 'side-by-side' ? sideBySideState(entry) : undefined;
  m.info.set(
    {
      migration: id,
      collection: entry.collection,
      kind: entry.kind,
      status: entry.status,
      ...(sbs !== undefined ? { stage: sbs.stage } : {}),
    },
    1,
  );
  if (sbs !== undefined) m.livePercent.set(migration, sbs.percent);

  // documents: the partitions' checkpointed counts (what the backfill itself adds up)
  const [parts, verifyParts, deadLetters] = await Promise.all([
    partitions.list(id),
    partitions.list(`${id}#verify`),
    new DeadLetters(ctx.stateStore, id).count(),
  ]);
  const progress = entry.progress as PublishedProgress | undefined;
  const counts =
    parts.length > 0
      ? parts.reduce<PartitionCounts>((acc, p) => addCounts(acc, p.counts), { ...ZERO_COUNTS })
      : addCounts(ZERO_COUNTS, progress ?? {});
  m.processed.inc(migration, counts.scanned);
  m.migrated.inc(migration, counts.migrated);
  m.skipped.inc(migration, counts.skipped);
  m.conflicted.inc(migration, counts.conflicts);
  m.failed.inc(migration, counts.errors);
  for (const p of parts) {
    const labels = { migration: id, partition: partitionLabel(p.id) };
    m.partitionProcessed.inc(labels, num(p.counts.scanned));
    m.partitionDone.set(labels, p.done ? 1 : 0);
  }
  if (parts.length > 0) {
    m.partitions.set(migration, parts.length);
    m.partitionsDone.set(migration, parts.filter((p) => p.done).length);
  }
  if (progress !== undefined) {
    setIf(m.documents, migration, progress.total);
    setIf(m.rate, migration, progress.rate);
    setIf(m.eta, migration, progress.etaSeconds);
    const at = Date.parse(progress.updatedAt ?? '');
    if (Number.isFinite(at)) m.progressAt.set(migration, at / 1000);
  }
  m.deadLetters.set(migration, deadLetters);
  for (const [pass, states] of [
    ['backfill', parts],
    ['verify', verifyParts],
  ] as const) {
    const live = liveLeases(states, now);
    m.leases.set({ migration: id, pass }, live.length);
    m.workers.set({ migration: id, pass }, new Set(live.map((p) => p.owner)).size);
  }
  if (verifyParts.length > 0)
    m.verifyProcessed.inc(
      migration,
      verifyParts.reduce((n, p) => n + num(p.counts.scanned), 0),
    );

  // throttle: the shared settings, and each live worker's own state
  const control = entry.control as
    { paused?: boolean; rate?: number; batchSize?: number } | undefined;
  m.paused.set(migration, entry.status === 'paused' || control?.paused === true ? 1 : 0);
  setIf(m.rateSetting, migration, control?.rate);
  setIf(m.batchSizeSetting, migration, control?.batchSize);
  let latency: LatencyHistogram | undefined;
  for (const h of heartbeats) {
    if (h.batchLatency !== undefined)
      latency = addHistograms(latency ?? emptyHistogram(), h.batchLatency);
    const cap = h.capacity;
    if (cap != null)
      for (const kind of ['read', 'write'] as const)
        m.workerCapacity.inc({ migration: id, worker: h.worker, kind }, num(cap[kind]));
    const t = h.throttle;
    if (h.state !== 'running' || now - num(h.updatedAt) > STALE_AFTER_MS || t === null) continue;
    if (cap != null) {
      m.workerCapacityBudget.set(
        { migration: id, worker: h.worker, kind: 'read' },
        num(cap.readBudget),
      );
      m.workerCapacityBudget.set(
        { migration: id, worker: h.worker, kind: 'write' },
        num(cap.writeBudget),
      );
    }
    const labels = { migration: id, worker: h.worker };
    m.workerRate.set(labels, num(t.rate));
    m.workerEffectiveRate.set(labels, num(t.effectiveRate));
    m.workerFactor.set(labels, num(t.factor));
    m.workerBatchSize.set(labels, num(t.batchSize));
  }
  if (latency !== undefined) m.latency.add(migration, latency);

  // the last verify, as the catalog keeps it
  const v = entry.lastVerify as LastVerify | undefined;
  if (v !== undefined) {
    m.verifyCompared.set(migration, num(v.compared));
    for (const [kind, n] of [
      ['mismatched', v.mismatched],
      ['missing', v.missing],
      ['old-version', v.oldVersion],
      ['invariant', v.invariantFailures],
      ['schema', v.schemaFailures],
    ] as const)
      m.verifyMismatches.set({ migration: id, kind }, num(n));
    m.verifyOk.set(migration, v.ok === true ? 1 : 0);
    const at = Date.parse(v.at ?? '');
    if (Number.isFinite(at)) m.verifyAt.set(migration, at / 1000);
  }

  if (sbs !== undefined) await collectRuntime(ctx, m, id, sbs.stage, now, windowMs);
}

async function collectRuntime(
  ctx: MetricsContext,
  m: Metrics,
  id: string,
  stage: string,
  now: number,
  windowMs: number,
): Promise<void> {
  const w = await readRuntime(ctx.stateStore, id, windowMs, now);
  const at = { migration: id, stage };
  m.rtWindow.set({ migration: id }, windowMs / 1000);
  m.rtInstances.set({ migration: id }, w.instances);
  for (const side of ['old', 'new'] as const) {
    const s = w[side];
    const labels = { ...at, side };
    m.rtReads.set(labels, s.reads);
    m.rtWrites.set(labels, s.writes);
    m.rtErrors.set(labels, s.errors);
    if (s.p50Ms !== null) m.rtLatency.set({ ...labels, quantile: '0.5' }, s.p50Ms / 1000);
    if (s.p99Ms !== null) m.rtLatency.set({ ...labels, quantile: '0.99' }, s.p99Ms / 1000);
  }
  m.rtCompared.set(at, w.compared);
  m.rtMismatched.set(at, w.mismatched);
  m.rtCandidateErrors.set(at, w.candidateErrors);
  m.rtDiscarded.set(at, w.discarded);
  m.rtFallbacks.set(at, w.fallbacks);
  if (w.mismatchRate !== null) m.rtMismatchRatio.set(at, w.mismatchRate);
  if (w.errorRate !== null) m.rtErrorRatio.set(at, w.errorRate);
  if (w.latencyRatio !== null) m.rtLatencyRatio.set(at, w.latencyRatio);
  for (const p of w.paths.slice(0, TOP_PATHS)) m.rtPaths.set({ ...at, path: p.path }, p.count);
  const pending = (w as { repairsPending?: number }).repairsPending;
  setIf(m.rtRepairs, { migration: id }, pending);
}

function liveLeases(states: readonly PartitionState[], now: number): PartitionState[] {
  return states.filter((p) => !p.done && p.owner !== null && num(p.expiresAt) > now);
}

/** Set the gauge when `v` is a number (or a bson number read back from the store). */
function setIf<L extends string>(
  g: Gauge<L>,
  labels: Partial<Record<L, string>>,
  v: unknown,
): void {
  const n = asNumber(v);
  if (n !== undefined) g.set(labels, n);
}

/** a finite non-negative number, else 0 */
function num(v: unknown): number {
  const n = asNumber(v);
  return n !== undefined && n >= 0 ? n : 0;
}

function addCounts(a: PartitionCounts, b: Partial<PartitionCounts>): PartitionCounts {
  return {
    scanned: a.scanned + num(b.scanned),
    migrated: a.migrated + num(b.migrated),
    skipped: a.skipped + num(b.skipped),
    conflicts: a.conflicts + num(b.conflicts),
    errors: a.errors + num(b.errors),
  };
}

/**
 * A histogram whose bucket counts come from the state store (prom-client's Histogram can only
 * observe values one by one). It is registered like any metric: the Registry formats what `get`
 * returns, cumulative `_bucket` series with `le`, then `_sum` and `_count`.
 */
class StoredHistogram {
  readonly type = 'histogram';
  readonly #series: { labels: Record<string, string>; h: LatencyHistogram }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly upperBounds: readonly number[],
  ) {}

  add(labels: Record<string, string>, h: LatencyHistogram): void {
    this.#series.push({ labels, h });
  }

  async get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    for (const { labels, h } of this.#series) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += num(h.buckets[i]);
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le },
          value: cumulative,
        });
      });
      // the open bucket: everything, so +Inf equals _count
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...labels, le: '+Inf' },
        value: num(h.count),
      });
      values.push({ metricName: `${this.name}_sum`, labels, value: num(h.sum) });
      values.push({ metricName: `${this.name}_count`, labels, value: num(h.count) });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}
