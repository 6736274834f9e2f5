/**
 * What the runtime did, counted in each process and published to the state store, so that gates,
 * `status`, the dashboard and /metrics see every application instance together.
 *
 * Rules:
 * - each yard keeps, per side-by-side migration and per side (old, new): reads, writes, errors and
 *   a latency histogram over fixed buckets (`LATENCY_BUCKETS_MS`, upper bounds, the last one
 *   open). Shadow comparisons add compared / mismatched / candidate errors / discarded (written
 *   after the read, shadow.ts) and the mismatching field patterns (experiment.ts); reads in live
 *   that the old side answered for the new one are counted as fallbacks (fallback.ts);
 * - every `publishMs` (yard.ts, default 5 s) the yard writes what it counted SINCE ITS LAST
 *   PUBLISH as one document of `_sy_runtime_<migration id>` keyed `<at, zero-padded>-<instance>`.
 *   Deltas, not totals: a window is the sum of the documents whose `at` falls in it, whatever
 *   instances came and went, and a restarted instance double-counts nothing. A failed publish keeps
 *   the counts for the next one;
 * - the publisher prunes documents older than `RETENTION_MS` (1 hour);
 * - `readRuntimeWindow` sums the documents of the last `windowMs`. Rates are null when nothing was
 *   observed (no comparison, no call), so a gate can tell "no traffic" from "0 %"; percentiles are
 *   read from the summed histogram, linearly interpolated within a bucket.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Doc } from '../core/values.js';
import type { Store } from '../store/contract.js';
import { repairCollectionName, type Side } from './repair-queue.js';
import type { MismatchSnapshot, Observation } from './experiment.js';

/** upper bounds of the latency buckets, ms; a last, open bucket catches the rest */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
];
export const DEFAULT_PUBLISH_MS = 5000;
export const RETENTION_MS = 60 * 60 * 1000;
/** how many field patterns one published document keeps (the most frequent) */
const MAX_PUBLISHED_PATHS = 50;

export function runtimeCollectionName(migrationId: string): string {
  return `_sy_runtime_${migrationId}`;
}

export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface SideCounts {
  reads: number;
  writes: number;
  errors: number;
  /** counts per LATENCY_BUCKETS_MS bucket, plus the open one */
  latency: number[];
}

function zeroSide(): SideCounts {
  return {
    reads: 0,
    writes: 0,
    errors: 0,
    latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
  };
}

function bucketOf(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** Why a read in live was answered by the old side (fallback.ts). */
export const FallbackReason = { missing: 'missing', failed: 'failed' } as const;
export type FallbackReason = (typeof FallbackReason)[keyof typeof FallbackReason];

/** Told of every call and comparison as it is counted (yard.metricsRegistry() uses it). */
export interface CountersListener {
  call(side: Side, kind: 'read' | 'write', ms: number, failed: boolean): void;
  compare(o: Observation): void;
  fallback(reason: FallbackReason, keys: number): void;
}

/** The calls counted since the last drain: per side, and the reads live gave to the old side. */
export interface CallCounts extends Record<Side, SideCounts> {
  /** keys the new side should have answered in live and the old side did (fallback.ts) */
  fallbacks: number;
}

function zeroCounts(): CallCounts {
  return { old: zeroSide(), new: zeroSide(), fallbacks: 0 };
}

/** One migration's counts in one process since the last publish. */
export class RuntimeCounters {
  #counts = zeroCounts();
  listener: CountersListener | undefined;

  /** A read or write on `side` that took `ms` (calls of several keys count once). */
  record(side: Side, kind: 'read' | 'write', ms: number, failed: boolean): void {
    const s = this.#counts[side];
    if (kind === 'read') s.reads++;
    else s.writes++;
    if (failed) s.errors++;
    s.latency[bucketOf(ms)]!++;
    this.listener?.call(side, kind, ms, failed);
  }

  /** Run a call on one side, recording it with its latency and whether it failed. */
  async time<T>(side: Side, kind: 'read' | 'write', call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await call();
      this.record(side, kind, performance.now() - started, false);
      return out;
    } catch (err) {
      this.record(side, kind, performance.now() - started, true);
      throw err;
    }
  }

  /** `keys` keys of a read in live answered by the old side instead of the new one. */
  fallback(reason: FallbackReason, keys: number): void {
    if (keys === 0) return;
    this.#counts.fallbacks += keys;
    this.listener?.fallback(reason, keys);
  }

  /** What was counted since the last drain, and start again. */
  drain(): CallCounts {
    const out = this.#counts;
    this.#counts = zeroCounts();
    return out;
  }

  /** Put back a drain that could not be published. */
  restore(d: CallCounts): void {
    for (const side of ['old', 'new'] as const) {
      const s = this.#counts[side];
      s.reads += d[side].reads;
      s.writes += d[side].writes;
      s.errors += d[side].errors;
      d[side].latency.forEach((n, i) => (s.latency[i]! += n));
    }
    this.#counts.fallbacks += d.fallbacks;
  }
}

/** The document one instance publishes for one migration. */
export interface RuntimeSample {
  migration: string;
  instance: string;
  /** ms since the epoch: the end of the interval */
  at: number;
  /** the start of the interval */
  since: number;
  stage: string;
  percent: number;
  old: SideCounts;
  new: SideCounts;
  compared: number;
  mismatched: number;
  candidateErrors: number;
  /** comparisons discarded: the old document was written after it was read (absent: 0) */
  discarded?: number;
  /** keys read in live that the old side answered for the new one (absent: 0) */
  fallbacks?: number;
  paths: Record<string, number>;
}

export function isEmptySample(s: RuntimeSample): boolean {
  return (
    s.old.reads +
      s.old.writes +
      s.new.reads +
      s.new.writes +
      s.compared +
      s.candidateErrors +
      (s.discarded ?? 0) +
      (s.fallbacks ?? 0) ===
    0
  );
}

export function sampleFrom(
  input: Omit<
    RuntimeSample,
    | 'old'
    | 'new'
    | 'compared'
    | 'mismatched'
    | 'candidateErrors'
    | 'discarded'
    | 'fallbacks'
    | 'paths'
  >,
  sides: CallCounts,
  shadow: MismatchSnapshot,
): RuntimeSample {
  return {
    ...input,
    old: sides.old,
    new: sides.new,
    fallbacks: sides.fallbacks,
    compared: shadow.matched + shadow.mismatched,
    mismatched: shadow.mismatched,
    candidateErrors: shadow.errors,
    discarded: shadow.discarded,
    paths: Object.fromEntries(
      shadow.byPath.slice(0, MAX_PUBLISHED_PATHS).map((p) => [p.name, p.count]),
    ),
  };
}

export async function publishSample(stateStore: Store, sample: RuntimeSample): Promise<void> {
  const key = `${String(sample.at).padStart(15, '0')}-${sample.instance}`;
  const results = await stateStore
    .collection(runtimeCollectionName(sample.migration))
    .write([{ type: 'put', key, doc: sample as unknown as Doc }]);
  if (!results.every((r) => r.ok)) throw new Error(`publishing runtime counters: write refused`);
}

/** Delete the samples of a migration older than `before` (ms since the epoch). */
export async function pruneSamples(
  stateStore: Store,
  migrationId: string,
  before: number,
): Promise<number> {
  const c = stateStore.collection(runtimeCollectionName(migrationId));
  let cursor: string | null = null;
  let pruned = 0;
  do {
    const page = await c.scan({ cursor, limit: 500 });
    const old = page.items.filter((s) => Number((s.doc as { at?: unknown }).at) < before);
    if (old.length > 0) {
      await c.write(old.map((s) => ({ type: 'delete' as const, key: s.key, ifRev: s.rev })));
      pruned += old.length;
    }
    cursor = page.cursor;
  } while (cursor !== null);
  return pruned;
}

export interface SideWindow {
  reads: number;
  writes: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface RuntimeWindow {
  migration: string;
  windowMs: number;
  /** the window: (from, to], ms since the epoch */
  from: number;
  to: number;
  /** application instances that published in the window */
  instances: number;
  old: SideWindow;
  new: SideWindow;
  compared: number;
  mismatched: number;
  candidateErrors: number;
  /** shadow reads not compared: the document was written after it was read (not in `compared`) */
  discarded: number;
  /** keys read in live that the new side did not have or failed to read, answered by the old side */
  fallbacks: number;
  /** mismatched / compared; null when nothing was compared */
  mismatchRate: number | null;
  /**
   * failed operations / operations; an operation is a store call of either side or a shadow
   * comparison of one document, and a candidate error is a failed comparison (a candidate read
   * of ten keys that fails is ten). Null with no traffic. Failures over calls alone counted a
   * failed batch read once per key but once as a call: 6% of failed reads measured 21%.
   */
  errorRate: number | null;
  /** new p99 / old p99; null unless both sides have latencies */
  latencyRatio: number | null;
  /** mismatching field patterns, most frequent first */
  paths: { path: string; count: number }[];
  /** entries waiting in the repair queue now */
  repairsPending: number;
}

/** The runtime counters of every instance over the last `windowMs`, summed. */
export async function readRuntimeWindow(
  stateStore: Store,
  migrationId: string,
  windowMs: number,
  now: number = Date.now(),
): Promise<RuntimeWindow> {
  const from = now - windowMs;
  const sides = { old: zeroSide(), new: zeroSide() };
  const instances = new Set<string>();
  const paths = new Map<string, number>();
  let compared = 0;
  let mismatched = 0;
  let candidateErrors = 0;
  let discarded = 0;
  let fallbacks = 0;
  const c = stateStore.collection(runtimeCollectionName(migrationId));
  let cursor: string | null = null;
  do {
    const page = await c.scan({ cursor, limit: 1000 });
    for (const item of page.items) {
      const s = item.doc as unknown as RuntimeSample;
      if (!(s.at > from && s.at <= now)) continue;
      instances.add(s.instance);
      for (const side of ['old', 'new'] as const) {
        const into = sides[side];
        const got = s[side];
        into.reads += got.reads;
        into.writes += got.writes;
        into.errors += got.errors;
        got.latency.forEach((n, i) => {
          if (i < into.latency.length) into.latency[i]! += n;
        });
      }
      compared += s.compared;
      mismatched += s.mismatched;
      candidateErrors += s.candidateErrors;
      discarded += s.discarded ?? 0;
      fallbacks += s.fallbacks ?? 0;
      for (const [p, n] of Object.entries(s.paths)) paths.set(p, (paths.get(p) ?? 0) + n);
    }
    cursor = page.cursor;
  } while (cursor !== null);

  const calls = sides.old.reads + sides.old.writes + sides.new.reads + sides.new.writes;
  const failures = sides.old.errors + sides.new.errors + candidateErrors;
  const operations = calls + compared + candidateErrors;
  const old = sideWindow(sides.old);
  const neu = sideWindow(sides.new);
  return {
    migration: migrationId,
    windowMs,
    from,
    to: now,
    instances: instances.size,
    old,
    new: neu,
    compared,
    mismatched,
    candidateErrors,
    discarded,
    fallbacks,
    mismatchRate: compared === 0 ? null : mismatched / compared,
    errorRate: operations === 0 ? null : Math.min(1, failures / operations),
    latencyRatio:
      old.p99Ms === null || neu.p99Ms === null || old.p99Ms === 0 ? null : neu.p99Ms / old.p99Ms,
    paths: [...paths]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([path, count]) => ({ path, count })),
    repairsPending: await stateStore.collection(repairCollectionName(migrationId)).count(),
  };
}

function sideWindow(s: SideCounts): SideWindow {
  return {
    reads: s.reads,
    writes: s.writes,
    errors: s.errors,
    p50Ms: percentile(s.latency, 0.5),
    p99Ms: percentile(s.latency, 0.99),
  };
}

/** The q-quantile of a bucketed histogram (linear within the bucket); null when empty. */
export function percentile(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      // the open bucket has no upper bound: report its lower bound
      if (i >= LATENCY_BUCKETS_MS.length) return lo;
      const hi = LATENCY_BUCKETS_MS[i]!;
      return lo + ((hi - lo) * (rank - seen)) / n;
    }
    seen += n;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}
