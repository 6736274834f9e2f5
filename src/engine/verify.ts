/**
 * verify: prove that what is stored is what the migration should have produced, and say
 * precisely where it is not. Counts plus capped samples, never a bare boolean.
 *
 * In place, a full verify is a job on the runner (jobs/verify-in-place.ts says what is checked):
 * partitioned over the data collection's and the journal's ranges, so several processes share
 * one verify (`workerId`, `partitions`, `concurrency`), a killed worker's partitions are taken
 * over, it is throttled and paused like a backfill (`switchyard pause <id> --job verify`), and a
 * killed verify, run again, continues from its checkpoints. The report merges the partitions'
 * results, so a resumed verify reports exactly what an uninterrupted one does. A sample
 * (`sample: n`) is one small in-process pass. Side by side: verify-side-by-side.ts.
 * A full run of a migration with unique constraints (declared, or kept by the store itself:
 * unique-constraints.ts) then checks them over the whole collection (unique-check.ts: one more
 * streaming pass, in each worker that reaches the end); a sample checks them among the sampled
 * documents only and says so; a shared value makes the report not ok.
 *
 * Resume rules: an unfinished run is joined; a finished one (its plan marked finished by the
 * worker that recorded it) is started afresh by the next verify. The worker that marks the plan
 * finished records the report (status, `lastVerify`, audit); the others return the same report.
 */
import { randomUUID } from 'node:crypto';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus } from '../state/catalog.js';
import { laterAppliedSteps } from '../state/chain-order.js';
import { Journal } from '../state/journal.js';
import { canaryOf, type CanaryState } from './canary.js';
import { Partitions, type PartitionState, type PlanState } from '../state/partitions.js';
import type { EngineContext } from './context.js';
import {
  checkDocuments,
  emptyAcc,
  InPlaceVerifyJob,
  ZERO_VERIFY,
  type Mismatch,
  type SideRange,
  type VerifyAcc,
  type VerifyCounts,
  type VerifySamples,
} from './jobs/verify-in-place.js';
import type { RunnerEvent } from './runner/job.js';
import type { ProgressSnapshot } from './runner/progress.js';
import {
  workerRunOptions,
  type RunOptions,
  type RunSummary,
  type WorkerOptions,
} from './runner/options.js';
import { retryAfterRun } from './runner/retry.js';
import { runJob } from './runner/runner.js';
import { verifyContexts } from './lookups.js';
import { sampleCollection } from './sample.js';
import type { UniqueCheck } from './unique-check.js';
import { verifyUnique, withUnique } from './unique-constraints.js';
import type { StoredDoc } from '../store/contract.js';
import { verifySideBySide } from './verify-side-by-side.js';

export type { Mismatch, VerifyCounts };

export const DEFAULT_VERIFY_MAX_SAMPLES = 10;
export const DEFAULT_VERIFY_PARTITIONS = 8;
export const DEFAULT_VERIFY_BATCH_SIZE = 500;

export type VerifyContext = EngineContext;

export interface VerifyOptions extends WorkerOptions {
  /** check a uniform random sample of this many documents instead of all */
  sample?: number;
  /** examples kept per kind of problem (default 10) */
  maxSamples?: number;
  seed?: number;
  /** after every page this process checked (a full run) */
  onProgress?: (p: ProgressSnapshot) => void;
  /** every event of a full run (leases, batches, retries, progress about once a second) */
  onEvent?: (e: RunnerEvent) => void;
}

export interface VerifyReport extends VerifyCounts {
  migration: string;
  collection: string;
  mode: 'full' | 'sample';
  ok: boolean;
  /** later steps of the collection's chain that are applied (chain-order.ts): this step is superseded */
  superseded?: string[];
  /**
   * a canary's verify (status canary): only the documents the canary migrated (its journal's
   * keys) were checked; the rest of the collection is not migrated yet, and is not drift
   */
  canary?: {
    limit?: number;
    filter?: string;
    /** the canary's documents checked */
    documents: number;
    /** the collection's documents */
    of: number;
    /** --sample was given: the canary's documents are checked whole */
    sampleIgnored?: boolean;
  };
  /** mismatches per field path (items[].price) */
  paths: Record<string, number>;
  /** with unique constraints: the values documents share (unique-check.ts; `sample`: in the sample) */
  unique?: UniqueCheck;
  samples: VerifySamples;
  ranges: {
    total: number;
    divergent: { id: string; mismatched: number; expectedHash: string; actualHash: string }[];
  };
  elapsedSeconds: number;
}

/** A full verify that stopped before the end (the plan was replaced by a newer run). */
export class VerifyStoppedError extends Error {
  readonly code = 'E_VERIFY_STOPPED';
}

export async function verify(
  ctx: VerifyContext,
  migration: Migration,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  // side by side: source and target compared across stores (verify-side-by-side.ts)
  if (migration.kind !== 'in-place') return verifySideBySide(ctx, migration, options);
  const started = Date.now();
  const maxSamples = options.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES;
  // a canary is verified on its subset: the documents its journal names (canary.ts)
  const canary = canaryOf(await ctx.catalog.get(migration.id));
  if (canary !== undefined) return fullVerify(ctx, migration, options, started, canary);
  if (options.sample !== undefined) {
    const { accs, sample } = await samplePass(ctx, migration, options);
    const report = merge(migration, 'sample', [], accs, maxSamples, started);
    // the unique fields among the sample's stored documents (only within the sample)
    const unique = await verifyUnique(migration, ctx.store.collection(migration.collection), {
      maxSamples,
      sample,
    });
    if (unique !== undefined) withUnique(report, unique);
    await noteSuperseded(ctx, migration, report);
    await recordVerify(ctx, migration, report);
    return report;
  }
  return fullVerify(ctx, migration, options, started);
}

/**
 * The full verify, as a job. A canary's (`canary`): every document its journal names, checked as
 * a full verify checks it (a sample is not taken: the subset is small by design); the documents
 * the canary did not touch are not drift. The report says so (`canary`); the status stays canary.
 */
async function fullVerify(
  ctx: VerifyContext,
  migration: Migration,
  options: VerifyOptions,
  started: number,
  canary?: CanaryState,
): Promise<VerifyReport> {
  const maxSamples = options.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES;
  const job = new InPlaceVerifyJob(ctx, migration, maxSamples, canary !== undefined);
  const run = await runJob(ctx, job, {
    ...workerRunOptions(options, {
      partitions: DEFAULT_VERIFY_PARTITIONS,
      // the checks are CPU-bound: more lanes help only where reads are slow
      concurrency: 1,
      batchSize: DEFAULT_VERIFY_BATCH_SIZE,
    }),
    total: () => job.total(),
    ...jobListeners(options),
  });
  stoppedEarly(run, options.signal);
  const accOf = (s: PartitionState) => (s.data as VerifyAcc | undefined) ?? emptyAcc();
  const side = (s: PartitionState) => (s.range as SideRange).side;
  const accs = (which: string) => run.states.filter((s) => side(s) === which).map(accOf);
  if (canary !== undefined) {
    const report = merge(migration, 'full', run.states.map(accOf), [], maxSamples, started);
    const of = await ctx.store.collection(migration.collection).count();
    report.canary = {
      ...(canary.limit !== undefined ? { limit: canary.limit } : {}),
      ...(canary.filter !== undefined ? { filter: canary.filter } : {}),
      documents: report.compared + report.missing + (report.unreadable ?? 0),
      of,
      ...(options.sample !== undefined ? { sampleIgnored: true } : {}),
    };
    await noteSuperseded(ctx, migration, report);
    return finishVerify(ctx, migration, run, report, recordVerify);
  }
  const report = merge(migration, 'full', accs('data'), accs('journal'), maxSamples, started);
  const unique = await verifyUnique(migration, ctx.store.collection(migration.collection), {
    maxSamples,
    signal: options.signal,
  });
  if (unique !== undefined) {
    withUnique(report, unique);
    report.elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
  }
  await noteSuperseded(ctx, migration, report);
  return finishVerify(ctx, migration, run, report, recordVerify);
}

/** Later steps of the collection's chain that are applied (chain-order.ts): this step is superseded. */
async function noteSuperseded(
  ctx: VerifyContext,
  m: Migration,
  report: VerifyReport,
): Promise<void> {
  const superseded = laterAppliedSteps(await ctx.catalog.list(), m).map((e) => e.id);
  if (superseded.length > 0) report.superseded = superseded;
}

/** The caller's listeners, as the runner takes them. */
export function jobListeners(o: VerifyOptions): Pick<RunOptions, 'onEvent' | 'onCheckpoint'> {
  return {
    ...(o.onEvent !== undefined ? { onEvent: o.onEvent } : {}),
    ...(o.onProgress !== undefined ? { onCheckpoint: o.onProgress } : {}),
  };
}

/** A full run that did not reach the end: the caller's signal, or a plan replaced under it. */
export function stoppedEarly(run: RunSummary, signal: AbortSignal | undefined): void {
  if (run.outcome === 'done') return;
  if (signal?.aborted === true) throw signal.reason ?? new Error('aborted');
  throw new VerifyStoppedError(run.message ?? `verify stopped (${run.outcome})`);
}

/**
 * The end of a full run: the worker that marks the plan finished records the report (`record`);
 * another worker that finished it first recorded its own, which is returned instead.
 */
export async function finishVerify<R extends VerifyReport>(
  ctx: VerifyContext,
  migration: Migration,
  run: { plan: PlanState; worker: { id: string } },
  report: R,
  record: (ctx: VerifyContext, m: Migration, r: R) => Promise<void>,
): Promise<R> {
  const { elapsedSeconds: _e, ...kept } = report;
  const finishMark = randomUUID();
  const mark = await retryAfterRun('finish', () =>
    new Partitions(ctx.stateStore).finishPlan(run.plan, run.worker.id, kept, finishMark),
  );
  if (mark.won) {
    await record(ctx, migration, report);
    return report;
  }
  const theirs = mark.plan?.finished?.result as Omit<R, 'elapsedSeconds'> | undefined;
  return theirs !== undefined
    ? ({ ...theirs, elapsedSeconds: report.elapsedSeconds } as R)
    : report;
}

async function samplePass(
  ctx: VerifyContext,
  m: Migration,
  o: VerifyOptions,
): Promise<{ accs: VerifyAcc[]; sample: readonly StoredDoc[] }> {
  const journal = new Journal(ctx.stateStore, m.id);
  const { sample } = await sampleCollection(ctx.store.collection(m.collection), {
    size: o.sample!,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const acc = emptyAcc();
  const batch = o.batchSize ?? DEFAULT_VERIFY_BATCH_SIZE;
  for (let i = 0; i < sample.length; i += batch) {
    const items = sample.slice(i, i + batch);
    const entries = await journal.get(items.map((s) => s.key));
    checkDocuments(
      m,
      entries,
      acc,
      items,
      o.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES,
      await verifyContexts(ctx.store, m, entries, items),
    );
  }
  return { accs: [acc], sample };
}

/**
 * The report from the partitions' accumulators: the data side's (one range each, its hashes
 * naming a divergent range) and the other ones (the journal side: missing documents).
 */
function merge(
  migration: Migration,
  mode: VerifyReport['mode'],
  ranges: readonly VerifyAcc[],
  others: readonly VerifyAcc[],
  maxSamples: number,
  started: number,
): VerifyReport {
  const counts = { ...ZERO_VERIFY };
  const paths: Record<string, number> = {};
  const samples: Required<VerifySamples> = {
    mismatched: [],
    missing: [],
    oldVersion: [],
    checks: [],
    lookupChanged: [],
  };
  for (const a of [...ranges, ...others]) {
    for (const k of Object.keys(counts) as (keyof VerifyCounts)[]) counts[k] += a.counts[k] ?? 0;
    for (const [p, n] of Object.entries(a.paths)) paths[p] = (paths[p] ?? 0) + n;
    samples.mismatched.push(...a.samples.mismatched);
    samples.missing.push(...a.samples.missing);
    samples.oldVersion.push(...a.samples.oldVersion);
    samples.checks.push(...a.samples.checks);
    samples.lookupChanged.push(...(a.samples.lookupChanged ?? []));
  }
  const divergent: VerifyReport['ranges']['divergent'] = [];
  ranges.forEach((a, i) => {
    if (a.expectedHash !== a.actualHash)
      divergent.push({
        id: String(i + 1),
        mismatched: a.counts.mismatched + a.counts.oldVersion,
        expectedHash: a.expectedHash,
        actualHash: a.actualHash,
      });
  });
  const cap = <T>(xs: T[]) => xs.slice(0, maxSamples);
  // lookupChanged is not drift (jobs/verify-in-place.ts; docs/guides/across-collections.md)
  const ok =
    counts.mismatched +
      counts.missing +
      counts.extra +
      counts.oldVersion +
      counts.invariantFailures +
      counts.schemaFailures +
      (counts.unreadable ?? 0) ===
    0;
  return {
    migration: migration.id,
    collection: migration.collection,
    mode,
    ok,
    ...counts,
    paths,
    samples: {
      mismatched: cap(samples.mismatched),
      missing: cap(samples.missing),
      oldVersion: cap(samples.oldVersion),
      checks: cap(samples.checks),
      ...(samples.lookupChanged.length > 0 ? { lookupChanged: cap(samples.lookupChanged) } : {}),
    },
    ranges: { total: mode === 'full' ? ranges.length : 0, divergent: cap(divergent) },
    elapsedSeconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

/**
 * What a verify report does to the status: a clean full run moves a backfilled migration to
 * verified; drift found after it was verified moves it back to backfilled.
 */
export function statusAfterVerify(
  status: string,
  r: { ok: boolean; mode: string },
): { status?: MigrationStatus } {
  if (r.ok && r.mode === 'full' && status === MigrationStatus.backfilled)
    return { status: MigrationStatus.verified };
  if (!r.ok && status === MigrationStatus.verified) return { status: MigrationStatus.backfilled };
  return {};
}

/**
 * Record a verify: the status moves (statusAfterVerify), the report's counts become the entry's
 * `lastVerify` (with `extra`, what a side-by-side report adds), and the audit log gets the counts
 * and paths (with `auditExtra`). In place and side by side both go through here.
 */
export async function recordVerify(
  ctx: VerifyContext,
  migration: Migration,
  r: VerifyReport,
  extra: { lastVerify?: Record<string, unknown>; audit?: Record<string, unknown> } = {},
): Promise<void> {
  const entry = await ctx.catalog.get(migration.id);
  if (entry !== null) {
    await ctx.catalog.update(migration.id, (e) => ({
      ...e,
      ...statusAfterVerify(e.status, r),
      lastVerify: {
        at: new Date().toISOString(),
        mode: r.mode,
        ok: r.ok,
        compared: r.compared,
        mismatched: r.mismatched,
        missing: r.missing,
        oldVersion: r.oldVersion,
        leftAsIs: r.leftAsIs,
        ...((r.lookupChanged ?? 0) > 0 ? { lookupChanged: r.lookupChanged } : {}),
        invariantFailures: r.invariantFailures,
        schemaFailures: r.schemaFailures,
        ...((r.unreadable ?? 0) > 0 ? { unreadable: r.unreadable } : {}),
        ...(r.unique !== undefined ? { uniqueCollisions: r.unique.collisions } : {}),
        ...extra.lastVerify,
      },
    }));
  }
  const { samples: _s, ranges: _r, paths, ...counts } = r;
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'verify',
    migration: migration.id,
    params: { ...counts, paths, ...extra.audit },
    outcome: r.ok ? 'ok' : 'drift found',
  });
}
