/**
 * A rehearsal: the migration run end to end on a copy, under chaos, timed, with the original
 * checked back byte for byte at the end. Steps, in order, each timed and given a status:
 *   copy      a sample (reservoir, seeded) or every document, into an EMPTY scratch store
 *   plan      the dry run, on the copy
 *   backfill  the real CLI in a child process, under the chaos, killed -9 once at a random
 *             moment and run again to the end (backfill-child.ts)
 *   verify    in this process, under the chaos
 *   rollback  in this process, under the chaos
 *   check     the copy exported again: the same bytes (sha256) as before the backfill
 *
 * Rules:
 * - The original store is only read (scan pages); nothing is written to it, not even to its
 *   state collections: the rehearsal's catalog, journal and audit log live in the scratch store.
 * - The scratch store must be another store than the original (and its state store) and hold no
 *   collection at all, so nothing of the rehearsal can mix with real data.
 * - A failed step is reported, never thrown: the steps after it still run where they can (a
 *   rollback after a failed backfill is the point of rehearsing), and the check tells the truth.
 * - Times are extrapolated linearly to the full collection (documents in the original / in the
 *   copy) for the passes over every document: backfill, verify, rollback.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { errorMessage, InputError } from '../../core/errors.js';
import { plan } from '../../engine/plan.js';
import { rollback } from '../../engine/rollback.js';
import { sampleCollection, seededRandom } from '../../engine/sample.js';
import { verify } from '../../engine/verify.js';
import { exportDocuments } from '../../io/export-documents.js';
import type { Migration } from '../../migration/migration.js';
import { Project } from '../../project.js';
import { Partitions } from '../../state/partitions.js';
import type { ChaosSpec } from '../../store/chaos-spec.js';
import type { Store, StoredDoc } from '../../store/contract.js';
import type { FaultStats } from '../../store/faulty-store.js';
import { openStore } from '../../store/open-store.js';
import { parseStoreUrl, redactUrl } from '../../store/store-url.js';
import { killedAndResumed, type BackfillRuns } from './backfill-child.js';

export const RehearsalStep = {
  copy: 'copy',
  plan: 'plan',
  backfill: 'backfill',
  verify: 'verify',
  rollback: 'rollback',
  check: 'check',
} as const;
export type RehearsalStep = (typeof RehearsalStep)[keyof typeof RehearsalStep];

/** The passes over every document: their times are extrapolated to the full collection. */
const FULL_PASSES: readonly RehearsalStep[] = ['backfill', 'verify', 'rollback'];

export interface StepResult {
  step: RehearsalStep;
  status: 'ok' | 'failed' | 'skipped';
  ms: number;
  /** ms for the full collection, for the passes over every document */
  extrapolatedMs?: number;
  /** what happened, in words */
  detail: string;
}

export interface RehearsalOptions {
  migration: Migration;
  migrationsDir: string;
  versionField: string;
  /** the store holding the original collection (only read) */
  originalUrl: string;
  /** the project's state store, when it is another store (never used as scratch) */
  stateUrl?: string;
  /** where the copy goes (default: a new SQLite file in a temporary directory) */
  scratchUrl?: string;
  /** how many documents to copy (default: every one) */
  sample?: number;
  chaos?: ChaosSpec;
  /** the seed of the sample and of the kill moment */
  seed: number;
  batchSize: number;
  /** flags handed to the rehearsal's backfill as given (--guard, --max-errors) */
  backfillFlags: readonly string[];
  actor: string;
  /** where relative SQLite paths are resolved */
  cwd: string;
  /** keep the temporary scratch directory (default: removed) */
  keep?: boolean;
  /** told when a step ends */
  onStep?: (r: StepResult) => void;
}

export interface RehearsalReport {
  migration: string;
  collection: string;
  /** documents in the original collection */
  total: number;
  /** documents copied */
  copied: number;
  /** the scratch store, password redacted; and where its files are, when temporary */
  scratch: string;
  scratchDir?: string;
  chaos?: { spec: string; seed: number; injected: FaultStats };
  seed: number;
  steps: StepResult[];
  backfill?: Omit<BackfillRuns, 'first' | 'resumed'> & {
    runs: { code: number | null; ms: number; done: number }[];
  };
  /** sha256 of the copy's export before the backfill and after the rollback */
  exportBefore?: string;
  exportAfter?: string;
  /** the copy is back byte for byte */
  originalBack: boolean;
  ok: boolean;
}

export class RehearsalRefusedError extends InputError {
  override readonly code = 'E_REHEARSAL_REFUSED';
}

/** True when two store URLs name the same data (credentials aside). */
export function sameStore(a: string, b: string, cwd: string): boolean {
  const pa = parseStoreUrl(a);
  const pb = parseStoreUrl(b);
  const base = (s: string) => s.replace(/\+.*$/, '');
  if (base(pa.scheme) !== base(pb.scheme)) return false;
  if (pa.scheme === 'memory') return false; // one per process: never shared
  if (pa.scheme === 'sqlite')
    return (
      pa.path !== ':memory:' &&
      path.resolve(cwd, pa.path ?? '') === path.resolve(cwd, pb.path ?? '')
    );
  if (pa.url !== undefined && pb.url !== undefined)
    return (
      pa.url.hostname === pb.url.hostname &&
      pa.url.port === pb.url.port &&
      (pa.url.pathname.replace(/^\/$/, '') || '/0') ===
        (pb.url.pathname.replace(/^\/$/, '') || '/0') &&
      pa.url.search === pb.url.search
    );
  return redactUrl(a) === redactUrl(b);
}

/** sha256 and length of a collection's export (canonical NDJSON, key order). */
async function exportHash(store: Store, collection: string): Promise<string> {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      hash.update(chunk);
      cb();
    },
  });
  await exportDocuments(store.collection(collection), sink);
  return hash.digest('hex');
}

/** Copy `sample` documents (or all) of the original into the scratch collection. */
async function copyInto(
  original: Store,
  scratch: Store,
  collection: string,
  sample: number | undefined,
  seed: number,
): Promise<{ total: number; copied: number }> {
  const from = original.collection(collection);
  const to = scratch.collection(collection);
  const put = (items: readonly StoredDoc[]) =>
    to.write(items.map((i) => ({ type: 'put' as const, key: i.key, doc: i.doc, ifRev: null })));
  if (sample !== undefined) {
    const { sample: docs, seen } = await sampleCollection(from, { size: sample, seed });
    for (let i = 0; i < docs.length; i += 500) await put(docs.slice(i, i + 500));
    return { total: seen, copied: docs.length };
  }
  let cursor: string | null = null;
  let copied = 0;
  do {
    const page = await from.scan({ cursor, limit: 500 });
    await put(page.items);
    copied += page.items.length;
    cursor = page.cursor;
  } while (cursor !== null);
  return { total: copied, copied };
}

export async function rehearse(o: RehearsalOptions): Promise<RehearsalReport> {
  const m = o.migration;
  if (m.kind !== 'in-place')
    throw new RehearsalRefusedError(
      `rehearse runs in-place migrations; ${m.id} is side by side (rehearse its stages with --chaos on a copy)`,
      { field: 'id' },
    );
  let scratchDir: string | undefined;
  let scratchUrl = o.scratchUrl;
  if (scratchUrl === undefined) {
    scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-rehearsal-'));
    scratchUrl = `sqlite:${path.join(scratchDir, 'rehearsal.db')}`;
  }
  for (const [what, url] of [
    ['the store', o.originalUrl],
    ['the state store', o.stateUrl],
  ] as const) {
    if (url !== undefined && sameStore(scratchUrl, url, o.cwd))
      throw new RehearsalRefusedError(
        `--scratch ${redactUrl(scratchUrl)} is ${what} of the project: a rehearsal never writes there; give another store (an empty one)`,
        { field: '--scratch' },
      );
  }
  const workDir = scratchDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-rehearsal-'));
  const steps: StepResult[] = [];
  const report: RehearsalReport = {
    migration: m.id,
    collection: m.collection,
    total: 0,
    copied: 0,
    scratch: redactUrl(scratchUrl),
    ...(scratchDir !== undefined && o.keep === true ? { scratchDir } : {}),
    seed: o.seed,
    steps,
    originalBack: false,
    ok: false,
  };
  const timed = async (
    step: RehearsalStep,
    fn: () => Promise<{ ok: boolean; detail: string }>,
  ): Promise<boolean> => {
    const t0 = Date.now();
    let r: { ok: boolean; detail: string };
    try {
      r = await fn();
    } catch (err) {
      r = { ok: false, detail: errorMessage(err) };
    }
    return record(step, r.ok ? 'ok' : 'failed', Date.now() - t0, r.detail);
  };
  const record = (
    step: RehearsalStep,
    status: StepResult['status'],
    ms: number,
    detail: string,
  ): boolean => {
    const factor = report.copied > 0 ? report.total / report.copied : 1;
    const s: StepResult = {
      step,
      status,
      ms,
      ...(FULL_PASSES.includes(step) && status === 'ok'
        ? { extrapolatedMs: Math.round(ms * factor) }
        : {}),
      detail,
    };
    steps.push(s);
    o.onStep?.(s);
    return status === 'ok';
  };
  const skip = (step: RehearsalStep, why: string) => record(step, 'skipped', 0, why);

  const original = await openStore(o.originalUrl, { baseDir: o.cwd });
  let scratch: Store | undefined;
  try {
    scratch = await openStore(scratchUrl, { baseDir: o.cwd });
    const present = await scratch.listCollections({ includeReserved: true });
    if (present.length > 0)
      throw new RehearsalRefusedError(
        `--scratch ${redactUrl(scratchUrl)} is not empty (it holds ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''}): give an empty store, so nothing of the rehearsal mixes with other data`,
        { field: '--scratch' },
      );
    const copiedOk = await timed(RehearsalStep.copy, async () => {
      const { total, copied } = await copyInto(original, scratch!, m.collection, o.sample, o.seed);
      report.total = total;
      report.copied = copied;
      report.exportBefore = await exportHash(scratch!, m.collection);
      return {
        ok: copied > 0,
        detail:
          copied > 0
            ? `${copied} of ${total} documents of ${m.collection} copied into ${redactUrl(scratchUrl)}`
            : `${m.collection} is empty: there is nothing to rehearse on`,
      };
    });
    await original.close().catch(() => undefined);
    if (!copiedOk) {
      for (const s of ['plan', 'backfill', 'verify', 'rollback', 'check'] as const)
        skip(s, 'nothing was copied');
      return report;
    }
    await timed(RehearsalStep.plan, async () => {
      const p = await plan(scratch!, m, { sample: Math.min(report.copied, 500), seed: o.seed });
      return {
        ok: p.failed === 0,
        detail: `${p.sampled} sampled: ${p.changed} change, ${p.unchanged} unchanged, ${p.failed} fail; round trip ${p.reversible ? 'exact' : 'not exact'}`,
      };
    });
    await scratch.close();
    scratch = undefined;

    // the backfill: a child process, killed -9 once, resumed
    fs.writeFileSync(
      path.join(workDir, 'switchyard.config.json'),
      JSON.stringify({
        store: scratchUrl,
        migrationsDir: o.migrationsDir,
        versionField: o.versionField,
      }),
    );
    const killAt = Math.max(
      1,
      Math.floor(report.copied * (0.2 + 0.6 * seededRandom(o.seed ^ 0x5eed)())),
    );
    const args = [
      '--json',
      'backfill',
      m.id,
      '--batch-size',
      String(o.batchSize),
      ...(o.chaos !== undefined
        ? ['--chaos', o.chaos.text, '--chaos-seed', String(o.chaos.seed)]
        : []),
      ...o.backfillFlags,
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_ACTOR: o.actor };
    delete env.SWITCHYARD_STORE;
    let backfilled = false;
    const t0 = Date.now();
    // the checkpoints, read from the scratch state store while the child writes them
    const watcher = await openStore(scratchUrl, { baseDir: o.cwd });
    const partitions = new Partitions(watcher);
    const done = async () =>
      (await partitions.list(m.id)).reduce((n, p) => n + p.counts.scanned, 0);
    try {
      const runs = await killedAndResumed(args, workDir, env, { at: killAt, done });
      const list = [runs.first, ...(runs.resumed !== undefined ? [runs.resumed] : [])];
      report.backfill = {
        killAt: runs.killAt,
        killedAtDone: runs.killedAtDone,
        runs: list.map((r) => ({ code: r.code, ms: r.ms, done: r.done })),
      };
      const last = list.at(-1)!;
      backfilled = last.code === 0;
      const ms = list.reduce((t, r) => t + r.ms, 0);
      const how =
        runs.killedAtDone !== undefined
          ? `killed -9 at ${runs.killedAtDone} of ${report.copied} documents, resumed to the end`
          : `finished before the kill point (${killAt} documents): not killed`;
      record(
        RehearsalStep.backfill,
        backfilled ? 'ok' : 'failed',
        ms,
        backfilled
          ? how
          : `${how}; exit ${last.code}: ${last.stderr.trim().split('\n').at(-1) ?? ''}`,
      );
    } catch (err) {
      record(RehearsalStep.backfill, 'failed', Date.now() - t0, errorMessage(err));
    } finally {
      await watcher.close();
    }

    const project = await Project.open({
      store: scratchUrl,
      migrationsDir: o.migrationsDir,
      versionField: o.versionField,
      cwd: workDir,
      actor: o.actor,
      ...(o.chaos !== undefined ? { chaos: o.chaos } : {}),
    });
    try {
      if (backfilled) {
        await project.recordChaos(m.id, 'verify');
        await timed(RehearsalStep.verify, async () => {
          const v = await verify(project, m, {});
          return {
            ok: v.ok,
            detail: v.ok
              ? `${v.compared} documents compared: as expected`
              : `${v.compared} compared: ${v.mismatched} mismatched, ${v.missing} missing, ${v.extra} extra, ${v.oldVersion} not migrated`,
          };
        });
      } else skip(RehearsalStep.verify, 'the backfill did not end');
      await project.recordChaos(m.id, 'rollback');
      await timed(RehearsalStep.rollback, async () => {
        const r = await rollback(project, m, { reason: 'rehearsal' });
        return {
          ok: r.outcome === 'rolled-back' && r.conflicts === 0,
          detail: `${r.restored} restored exactly, ${r.downcast} turned back with down(), ${r.conflicts} conflicts`,
        };
      });
      if (project.chaos !== undefined)
        report.chaos = {
          spec: project.chaos.spec.text,
          seed: project.chaos.spec.seed,
          injected: { ...project.chaos.store.stats },
        };
      await timed(RehearsalStep.check, async () => {
        report.exportAfter = await exportHash(
          project.chaos?.store.inner ?? project.store,
          m.collection,
        );
        report.originalBack = report.exportAfter === report.exportBefore;
        return {
          ok: report.originalBack,
          detail: report.originalBack
            ? `the copy's export is byte-identical to the one before the backfill (sha256 ${report.exportAfter.slice(0, 16)}...)`
            : `the copy's export differs from the one before the backfill (sha256 ${report.exportBefore!.slice(0, 16)}... then ${report.exportAfter.slice(0, 16)}...)`,
        };
      });
    } finally {
      await project.close();
    }
    report.ok = steps.every((s) => s.status === 'ok');
    return report;
  } finally {
    await scratch?.close().catch(() => undefined);
    await original.close().catch(() => undefined);
    if (o.keep !== true) {
      if (scratchDir !== undefined) fs.rmSync(scratchDir, { recursive: true, force: true });
      else fs.rmSync(workDir, { recursive: true, force: true });
    } else if (scratchDir === undefined) fs.rmSync(workDir, { recursive: true, force: true });
  }
}
