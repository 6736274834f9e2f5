/**
 * verify for side-by-side migrations: prove that the target holds `up(source)` for every key and
 * nothing else, when the two may live on different stores whose key orders and partitionings
 * have nothing in common (SQLite key ranges, Redis hash partitions, DynamoDB segments).
 *
 * How (full run): two passes, each a job on the runner (jobs/verify-side-by-side/jobs.ts): a
 * summary of both sides into per-bucket counts and digests, then — only for buckets that differ —
 * a drill that names every key missing in the target, extra in the target, different (with the
 * JSON Pointer paths) or whose up() fails. Findings are re-read on both sides before they are
 * reported (compare.ts): writes landing during verify settle instead. The target documents are
 * also checked on their own: at the target version, invariants, schema. A document that cannot
 * be read (not JSON, a JSON array), in the source or in the target, is named by key and side
 * (`unreadable`, in `samples.checks`) and makes the report not ok. The target's unique
 * constraints (declared, or the target store's own: unique-constraints.ts) are checked over the
 * whole target collection (full) or among the target's sampled documents (`sample`).
 *
 * Like every job on the runner, a full run is partitioned (each side split into `partitions`),
 * shared by several processes, throttled, paused, and resumed after kill -9 from its
 * checkpoints; a resumed verify reports what an uninterrupted one does. A finished run is started
 * afresh by the next verify.
 *
 * `sample`: a uniform sample of n keys of each side, compared the same way (fresh reads of both
 * sides, then rechecks); no buckets, in this process, not resumable.
 *
 * The result is recorded like an in-place verify's: `lastVerify` in the catalog entry (a clean
 * full run moves a backfilled migration to verified, drift moves a verified one back), an audit
 * entry either way. The stage is never changed. The report is built and recorded in
 * jobs/verify-side-by-side/report.ts.
 */
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { openTargetStore } from './target-store.js';
import type { EngineContext } from './context.js';
import { DOCS_PER_BUCKET, MAX_BUCKETS } from './jobs/verify-side-by-side/buckets.js';
import {
  Comparer,
  emptyFindings,
  mergeFindings,
  type Findings,
} from './jobs/verify-side-by-side/compare.js';
import { DrillJob, SummaryJob } from './jobs/verify-side-by-side/jobs.js';
import {
  build,
  record,
  sumSides,
  type SideBySideVerifyReport,
  type Where,
} from './jobs/verify-side-by-side/report.js';
import { samplePass } from './jobs/verify-side-by-side/sample.js';
import { workerRunOptions, type RunOptions } from './runner/options.js';
import { runJob } from './runner/runner.js';
import { sideBySideState } from './stages.js';
import {
  DEFAULT_VERIFY_BATCH_SIZE,
  DEFAULT_VERIFY_MAX_SAMPLES,
  finishVerify,
  jobListeners,
  stoppedEarly,
  type VerifyOptions,
} from './verify.js';
import type { UniqueCheck } from './unique-check.js';
import { verifyUnique, withUnique } from './unique-constraints.js';
import { targetCollection } from './mapped-target.js';
import { combineTargets } from './verify-split-report.js';
import { countMergeOrphans, withOrphans } from './verify-merge-orphans.js';

export { bucketOf, BucketSummary } from './jobs/verify-side-by-side/buckets.js';
export type { SideBySideVerifyReport } from './jobs/verify-side-by-side/report.js';

export const DEFAULT_RECHECKS = 3;
export const DEFAULT_RECHECK_DELAY_MS = 200;
/**
 * partitions per side: one, the two sides read at once. The work is parsing and hashing on this
 * one thread, and a Redis hash partition SCANs the whole keyspace (4 partitions ran at about half
 * the speed of 1 on 200k documents); more helps where a scan is latency-bound (DynamoDB segments)
 * and where several processes share the verify
 */
const DEFAULT_PARTITIONS = 1;
const DEFAULT_CONCURRENCY = 4;

export interface SideBySideVerifyOptions extends VerifyOptions {
  /** how many times a difference is re-read on both sides before it is reported (default 3) */
  rechecks?: number;
  /** the delay before the first recheck, ms, doubled for each next one (default 200) */
  recheckDelayMs?: number;
  /** partitions per side, from each store's split() (default 1: the two sides read at once) */
  partitions?: number;
  /** buckets of the summary pass (default: about 64 documents each, at most 8,192) */
  buckets?: number;
  /** partitions scanned at once, both sides together (default 4); see `partitions` */
  concurrency?: number;
  /** top-level fields left out of the comparison (fields each side stamps on its own) */
  ignore?: readonly string[];
  /** the directory a relative `target.store` path is resolved against (default: cwd) */
  baseDir?: string;
}

export async function verifySideBySide(
  ctx: EngineContext,
  migration: Migration,
  options: SideBySideVerifyOptions = {},
): Promise<SideBySideVerifyReport> {
  if (migration.target === undefined)
    throw new InputError(`${migration.id} has no target: it is verified in place (verify())`, {
      field: 'target',
    });
  validate(options);
  if (migration.merge.length > 0 && options.sample === undefined) {
    // a merge: the secondary documents without a primary, counted first (verify-merge-orphans.ts)
    const found = await countMergeOrphans(ctx.store, migration, {
      batchSize: options.batchSize ?? DEFAULT_VERIFY_BATCH_SIZE,
      maxSamples: options.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES,
      signal: options.signal,
    });
    const report = await verifyTarget(ctx, migration, options, (c, m, r) =>
      record(c, m, withOrphans(r, found)),
    );
    return withOrphans(report, found);
  }
  if (migration.extraTargets.length === 0) return verifyTarget(ctx, migration, options, record);
  // a split: each target against its own up(source), one after the other; recorded once
  const parts: SideBySideVerifyReport[] = [];
  for (const t of migration.allTargets)
    parts.push(await verifyTarget(ctx, t, options, async () => {}));
  const report = combineTargets(parts);
  await record(ctx, migration, report);
  return report;
}

type Recorder = (ctx: EngineContext, m: Migration, r: SideBySideVerifyReport) => Promise<void>;

/** One target against up(source) (a split's target: its one-target migration). */
async function verifyTarget(
  ctx: EngineContext,
  migration: Migration,
  options: SideBySideVerifyOptions,
  recorder: Recorder,
): Promise<SideBySideVerifyReport> {
  const target = migration.target!;
  const { stage } = sideBySideState(await ctx.catalog.get(migration.id));
  const targetStore = await openTargetStore(migration, options);
  try {
    const source = ctx.store.collection(migration.collection);
    const targetColl = targetCollection(migration, targetStore ?? ctx.store);
    const comparer = new Comparer(
      migration,
      source,
      targetColl,
      {
        ignore: options.ignore ?? [],
        rechecks: options.rechecks ?? DEFAULT_RECHECKS,
        recheckDelayMs: options.recheckDelayMs ?? DEFAULT_RECHECK_DELAY_MS,
        maxSamples: options.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES,
        signal: options.signal,
      },
      ctx.store,
    );
    const at = {
      stage,
      source: { store: ctx.store.url, collection: migration.collection },
      target: { store: (targetStore ?? ctx.store).url, collection: target.collection },
    };
    const started = Date.now();
    // the target's unique constraints: declared, and kept by the target's store (unique-constraints.ts)
    const ownTarget = (targetStore ?? ctx.store).collection(target.collection);
    const maxSamples = options.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES;
    if (options.sample !== undefined) {
      const outcome = await samplePass(comparer, options);
      const report = build(comparer, at, started, { mode: 'sample', ...outcome });
      const unique = await verifyUnique(migration, ownTarget, {
        maxSamples,
        sample: outcome.targetSample,
      });
      if (unique !== undefined) withUnique(report, unique);
      await recorder(ctx, migration, report);
      return report;
    }
    const unique = () => verifyUnique(migration, ownTarget, { maxSamples, signal: options.signal });
    return await fullRun(ctx, migration, comparer, at, started, options, unique, recorder);
  } finally {
    await targetStore?.close();
  }
}

function validate(options: SideBySideVerifyOptions): void {
  for (const [name, v] of [
    ['rechecks', options.rechecks ?? 0],
    ['recheckDelayMs', options.recheckDelayMs ?? 0],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new InputError(`${name} must be a non-negative integer, got ${v}`, { field: name });
  }
  for (const [name, v] of [
    ['buckets', options.buckets ?? 1],
    ['concurrency', options.concurrency ?? 1],
    ['partitions', options.partitions ?? 1],
    ['sample', options.sample ?? 1],
    ['batchSize', options.batchSize ?? 1],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new InputError(`${name} must be a positive integer, got ${v}`, { field: name });
  }
}

async function fullRun(
  ctx: EngineContext,
  m: Migration,
  comparer: Comparer,
  at: Where,
  started: number,
  o: SideBySideVerifyOptions,
  unique: () => Promise<UniqueCheck | undefined>,
  recorder: Recorder,
): Promise<SideBySideVerifyReport> {
  const { source } = comparer;
  const common: Omit<RunOptions, 'total'> = {
    ...workerRunOptions(o, {
      partitions: DEFAULT_PARTITIONS,
      concurrency: DEFAULT_CONCURRENCY,
      batchSize: DEFAULT_VERIFY_BATCH_SIZE,
    }),
    ...jobListeners(o),
  };
  const bucketsFor = (n: number) =>
    o.buckets ?? Math.min(MAX_BUCKETS, Math.max(1, Math.ceil(n / DOCS_PER_BUCKET)));
  const summaryJob = new SummaryJob(comparer, bucketsFor);
  const run = await runJob(ctx, summaryJob, {
    ...common,
    total: async () => 2 * (await source.count()),
  });
  stoppedEarly(run, o.signal);
  const B = Number(run.plan.params?.buckets ?? 1);
  const sides = sumSides(run.states, B);
  const divergent = sides.expected.divergent(sides.actual);
  let findings = emptyFindings();
  if (divergent.length > 0) {
    const drill = new DrillJob(comparer, {
      summary: run.plan,
      buckets: B,
      divergent,
    });
    const drilled = await runJob(ctx, drill, {
      ...common,
      total: async () => sides.sourceDocs + sides.targetDocs,
    });
    stoppedEarly(drilled, o.signal);
    findings = mergeFindings(
      drilled.states.map((s) => ({ ...emptyFindings(), ...(s.data as Partial<Findings>) })),
      comparer.o.maxSamples,
    );
  }
  const report = build(comparer, at, started, {
    mode: 'full',
    sourceDocs: sides.sourceDocs,
    targetDocs: sides.targetDocs,
    findings,
    checks: sides.checks,
    unreadable: sides.unreadable,
    buckets: { expected: sides.expected, actual: sides.actual, divergent },
  });
  const u = await unique();
  if (u !== undefined) {
    withUnique(report, u);
    report.elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return finishVerify(ctx, m, run, report, recorder);
}
