/**
 * verify: prove that what is stored is what the migration should have produced, and say
 * precisely where it is not. Counts plus capped samples, never a bare boolean.
 *
 * In place, for every stored document (all of them, or a uniform sample):
 * - with a journal entry: the document must still be what the migration wrote. A content hash
 *   equal to the journal's `afterHash` is a match without re-running up() (cheap, and immune to
 *   non-deterministic transforms). Otherwise the expected document is up(before-image) and the
 *   report gives the differing paths and both values;
 * - without one (skipped as already migrated, written later by the application, or a backfill
 *   without the journal): it must be at the target version;
 * - every migrated document must pass the invariants and the after-schema.
 * A full run also checks the journal the other way: a journalled document that no longer exists
 * is missing. Documents are grouped by partition with a hash of expected and actual content per
 * range, so divergent ranges stand out.
 *
 * Resume rules: a full run keeps its state (cursor, counts, samples) per partition in
 * `_sy_partitions` under the job `<id>#verify`; a killed verify, run again, continues there. A
 * finished one is started afresh by the next verify.
 */
import { createHash } from 'node:crypto';
import { verifySideBySide } from './verify-side-by-side.js';

import { diff, type DiffEntry } from '../core/diff.js';
import { contentHash, type Doc, type Value } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus } from '../state/catalog.js';
import { laterAppliedSteps } from '../state/chain-order.js';
import { beforeImage, Journal, type JournalEntry } from '../state/journal.js';
import {
  defaultWorker,
  Partitions,
  ZERO_COUNTS,
  type Lease,
  type PartitionState,
} from '../state/partitions.js';
import type { StoredDoc } from '../store/contract.js';
import type { EngineContext } from './context.js';
import { ProgressMeter, type ProgressSnapshot } from './progress.js';
import { sampleCollection } from './sample.js';
import { sleep } from './throttle.js';

export const DEFAULT_VERIFY_MAX_SAMPLES = 10;
const BATCH = 500;

export type VerifyContext = EngineContext;

export interface VerifyOptions {
  /** check a uniform random sample of this many documents instead of all */
  sample?: number;
  /** examples kept per kind of problem (default 10) */
  maxSamples?: number;
  partitions?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressSnapshot) => void;
}

export interface Mismatch {
  key: string;
  diffs: { path: string; field: string; expected?: Value; actual?: Value }[];
}

export interface VerifyCounts {
  compared: number;
  matched: number;
  mismatched: number;
  missing: number;
  extra: number;
  oldVersion: number;
  /** at a version past the step's `to` (moved on by a later step): not drift, not compared */
  newer: number;
  invariantFailures: number;
  schemaFailures: number;
}

export interface VerifyReport extends VerifyCounts {
  migration: string;
  collection: string;
  mode: 'full' | 'sample';
  ok: boolean;
  /** later steps of the collection's chain that are applied (chain-order.ts): this step is superseded */
  superseded?: string[];
  /** mismatches per field path (items[].price) */
  paths: Record<string, number>;
  samples: {
    mismatched: Mismatch[];
    missing: string[];
    oldVersion: { key: string; version: number }[];
    checks: { key: string; failures: string[] }[];
  };
  ranges: {
    total: number;
    divergent: { id: string; mismatched: number; expectedHash: string; actualHash: string }[];
  };
  elapsedSeconds: number;
}

const ZERO: VerifyCounts = {
  compared: 0,
  matched: 0,
  mismatched: 0,
  missing: 0,
  extra: 0,
  oldVersion: 0,
  newer: 0,
  invariantFailures: 0,
  schemaFailures: 0,
};

/** What one partition (or the sample) accumulates; JSON, kept in the partition document. */
interface Acc {
  counts: VerifyCounts;
  paths: Record<string, number>;
  samples: VerifyReport['samples'];
  expectedHash: string;
  actualHash: string;
}

function emptyAcc(): Acc {
  return {
    counts: { ...ZERO },
    paths: {},
    samples: { mismatched: [], missing: [], oldVersion: [], checks: [] },
    expectedHash: '',
    actualHash: '',
  };
}

/** Chain a running hash: sha1(previous + item). Order-dependent, so both sides scan in the same order. */
function chain(prev: string, item: string): string {
  return createHash('sha1').update(prev).update(item).digest('base64');
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
  const source = ctx.store.collection(migration.collection);
  const journal = new Journal(ctx.stateStore, migration.id);
  const check = (acc: Acc, items: readonly StoredDoc[]) =>
    checkDocuments(migration, journal, acc, items, maxSamples);

  let accs: Acc[];
  let mode: VerifyReport['mode'];
  if (options.sample !== undefined) {
    mode = 'sample';
    const { sample } = await sampleCollection(source, {
      size: options.sample,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const acc = emptyAcc();
    for (let i = 0; i < sample.length; i += BATCH) await check(acc, sample.slice(i, i + BATCH));
    accs = [acc];
  } else {
    mode = 'full';
    accs = await fullPass(ctx, migration, options, check);
    // the other direction: journalled documents that are gone
    const missing = emptyAcc();
    let cursor: string | null = null;
    do {
      const page = await journal.scan(cursor, BATCH);
      const docs = await source.getMany(page.entries.map((e) => e.key));
      page.entries.forEach((e, i) => {
        if (docs[i] !== null) return;
        missing.counts.missing += 1;
        if (missing.samples.missing.length < maxSamples) missing.samples.missing.push(e.key);
      });
      cursor = page.cursor;
    } while (cursor !== null);
    accs.push(missing);
  }
  const report = merge(migration, mode, accs, maxSamples, started);
  const superseded = laterAppliedSteps(await ctx.catalog.list(), migration).map((e) => e.id);
  if (superseded.length > 0) report.superseded = superseded;
  await recordVerify(ctx, migration, report);
  return report;
}

async function fullPass(
  ctx: VerifyContext,
  migration: Migration,
  options: VerifyOptions,
  check: (acc: Acc, items: readonly StoredDoc[]) => Promise<void>,
): Promise<Acc[]> {
  const source = ctx.store.collection(migration.collection);
  const job = `${migration.id}#verify`;
  const partitions = new Partitions(ctx.stateStore);
  // a finished verify is started afresh; an unfinished one resumes
  const previous = await partitions.list(job);
  if (previous.length > 0 && previous.every((p) => p.done)) await partitions.clear(job);
  const ids = await partitions.ensurePlan(job, () => source.split(options.partitions ?? 8));
  const total = await source.count();
  const meter = new ProgressMeter(total);
  const worker = defaultWorker();
  const doneSoFar = async () =>
    (await partitions.list(job)).reduce((n, p) => n + p.counts.scanned, 0);
  for (const id of ids) {
    let lease: Lease | null = null;
    while (lease === null) {
      const state = (await partitions.list(job)).find((p) => p.id === id);
      if (state === undefined || state.done) break;
      lease = await partitions.tryAcquire(id, worker);
      if (lease === null) await sleep(500, options.signal);
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    }
    while (lease !== null && !lease.state.done) {
      options.signal?.throwIfAborted();
      const page = await source.scan({
        range: lease.state.range,
        cursor: lease.state.cursor,
        limit: BATCH,
      });
      const acc = (lease.state.data as Acc | undefined) ?? emptyAcc();
      await check(acc, page.items);
      const last = page.items[page.items.length - 1];
      lease = await partitions.checkpoint(lease, {
        cursor: page.cursor ?? (last !== undefined ? last.key : lease.state.cursor),
        done: page.cursor === null,
        counts: { ...ZERO_COUNTS, scanned: lease.state.counts.scanned + page.items.length },
        data: acc as unknown as Record<string, unknown>,
      });
      options.onProgress?.(meter.snapshot(await doneSoFar()));
    }
  }
  const states: PartitionState[] = await partitions.list(job);
  return states.map((s) => (s.data as Acc | undefined) ?? emptyAcc());
}

async function checkDocuments(
  migration: Migration,
  journal: Journal,
  acc: Acc,
  items: readonly StoredDoc[],
  maxSamples: number,
): Promise<void> {
  const entries: (JournalEntry | null)[] =
    items.length > 0 ? await journal.get(items.map((s) => s.key)) : [];
  items.forEach(({ key, doc }, i) => {
    const entry = entries[i] ?? null;
    const c = acc.counts;
    c.compared += 1;
    const actualHash = contentHash(doc);
    acc.actualHash = chain(acc.actualHash, `${key}\u0000${actualHash}`);
    if (migration.standing(doc) === 'newer') {
      c.newer = (c.newer ?? 0) + 1; // a partition saved by an older version has no `newer`
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
      return;
    }
    if (!migration.isMigrated(doc)) {
      c.oldVersion += 1;
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000(at v${migration.to})`);
      if (acc.samples.oldVersion.length < maxSamples)
        acc.samples.oldVersion.push({ key, version: migration.versionOf(doc) });
      return;
    }
    let problems = false;
    if (entry !== null && entry.afterHash !== actualHash) {
      // changed since the migration wrote it: show how it differs from up(before)
      let expected: Doc | undefined;
      let why: DiffEntry[] = [];
      try {
        expected = migration.up(beforeImage(entry));
        why = diff(expected, doc, { limit: 50 });
      } catch (err) {
        why = [
          {
            op: 'replace',
            path: '',
            field: '(up failed)',
            before: String((err as Error).message),
            after: null,
          },
        ];
      }
      acc.expectedHash = chain(
        acc.expectedHash,
        `${key}\u0000${expected !== undefined ? contentHash(expected) : 'up failed'}`,
      );
      if (why.length > 0) {
        problems = true;
        c.mismatched += 1;
        for (const d of why) acc.paths[d.field] = (acc.paths[d.field] ?? 0) + 1;
        if (acc.samples.mismatched.length < maxSamples) {
          acc.samples.mismatched.push({
            key,
            diffs: why.slice(0, 20).map((d) => ({
              path: d.path,
              field: d.field,
              ...(d.before !== undefined ? { expected: d.before } : {}),
              ...(d.after !== undefined ? { actual: d.after } : {}),
            })),
          });
        }
      }
    } else {
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
    }
    const failures = migration.check(doc);
    if (failures.length > 0) {
      problems = true;
      if (failures.some((f) => f.startsWith('schema:'))) c.schemaFailures += 1;
      if (failures.some((f) => !f.startsWith('schema:'))) c.invariantFailures += 1;
      if (acc.samples.checks.length < maxSamples) acc.samples.checks.push({ key, failures });
    }
    if (!problems) c.matched += 1;
  });
}

function merge(
  migration: Migration,
  mode: VerifyReport['mode'],
  accs: Acc[],
  maxSamples: number,
  started: number,
): VerifyReport {
  const counts = { ...ZERO };
  const paths: Record<string, number> = {};
  const samples: VerifyReport['samples'] = {
    mismatched: [],
    missing: [],
    oldVersion: [],
    checks: [],
  };
  const divergent: VerifyReport['ranges']['divergent'] = [];
  accs.forEach((a, i) => {
    for (const k of Object.keys(counts) as (keyof VerifyCounts)[]) counts[k] += a.counts[k] ?? 0;
    for (const [p, n] of Object.entries(a.paths)) paths[p] = (paths[p] ?? 0) + n;
    samples.mismatched.push(...a.samples.mismatched);
    samples.missing.push(...a.samples.missing);
    samples.oldVersion.push(...a.samples.oldVersion);
    samples.checks.push(...a.samples.checks);
    if (a.expectedHash !== a.actualHash)
      divergent.push({
        id: String(i + 1),
        mismatched: a.counts.mismatched + a.counts.oldVersion,
        expectedHash: a.expectedHash,
        actualHash: a.actualHash,
      });
  });
  const cap = <T>(xs: T[]) => xs.slice(0, maxSamples);
  const ok =
    counts.mismatched +
      counts.missing +
      counts.extra +
      counts.oldVersion +
      counts.invariantFailures +
      counts.schemaFailures ===
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
    },
    ranges: { total: accs.length, divergent: cap(divergent) },
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
        invariantFailures: r.invariantFailures,
        schemaFailures: r.schemaFailures,
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
