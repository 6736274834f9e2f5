/**
 * /metrics from the state store: real backfills and verifies on SQLite files, then
 * renderProjectMetrics parsed as Prometheus text and compared with the engines' own totals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill, type BackfillEvent } from '../../src/engine/backfill.js';
import { verify } from '../../src/engine/verify.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import {
  createRuntimeMetrics,
  METRICS_CONTENT_TYPE,
  renderProjectMetrics,
} from '../../src/observe/metrics.js';
import { WorkerHeartbeat } from '../../src/observe/worker-heartbeat.js';
import { publishSample, readRuntimeWindow } from '../../src/runtime/counters.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { runCli } from '../cli/run-cli.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { parsePrometheusText, samplesOf, valueOf } from './prom-text.js';

let dir: string;
let db: string;
const open: SqliteStore[] = [];
beforeEach(() => {
  dir = tempDir('sy-metrics-');
  db = path.join(dir, 'data.db');
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(): SqliteStore {
  const s = sqliteAt(db);
  open.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** up() throws for every 197th document, so some go to dead letters (0.5%: within the error budget) */
function flakyMigration(id = 'm-metrics') {
  return compileMigration({
    id,
    collection: 'users',
    up: (d) => {
      if ((d.n as number) % 197 === 0) throw new Error(`cannot migrate n=${String(d.n)}`);
      d.first = String(d.name).split(' ')[0] ?? '';
    },
  });
}

describe('renderProjectMetrics', () => {
  it("parses as Prometheus text and its counters equal the backfill's own totals", async () => {
    const N = 3000;
    const s = store();
    await seedUsers(s, N);
    // 150 documents already at the target version: skipped
    const pre = await s
      .collection('users')
      .getMany(Array.from({ length: 150 }, (_, i) => `u${String(i * 20 + 1).padStart(6, '0')}`));
    await s
      .collection('users')
      .write(pre.map((p) => ({ type: 'put' as const, key: p!.key, doc: { ...p!.doc, _sv: 2 } })));
    // an application writing through its own connection meanwhile (conflicts, if it lands on one)
    const app = store();
    let stop = false;
    const writer = (async () => {
      for (let seq = 0; !stop; seq++) {
        const key = `u${String(Math.floor(Math.random() * N)).padStart(6, '0')}`;
        const cur = await app.collection('users').get(key);
        if (cur !== null)
          await app
            .collection('users')
            .write([{ type: 'put', key, doc: { ...cur.doc, note: `app-${seq}` }, ifRev: cur.rev }]);
        await sleep(1);
      }
    })();

    const ctx = contextFor(s);
    const m = flakyMigration();
    const heartbeat = new WorkerHeartbeat(s, m.id);
    const batches: number[] = [];
    const result = await backfill(ctx, m, {
      batchSize: 100,
      partitions: 4,
      concurrency: 2,
      progressIntervalMs: 200,
      onEvent: (e: BackfillEvent) => {
        heartbeat.onEvent(e);
        if (e.type === 'batch') batches.push(e.latencyMs);
      },
    });
    await heartbeat.close();
    stop = true;
    await writer;
    expect(result.outcome).toBe('backfilled');
    const p = result.progress;
    expect(p.errors).toBeGreaterThan(10); // n = 0, 197, 394, ... unless pre-migrated
    expect(p.skipped).toBeGreaterThanOrEqual(150);

    const text = await renderProjectMetrics(ctx);
    expect(METRICS_CONTENT_TYPE).toMatch(/^text\/plain; version=0\.0\.4/);
    const f = parsePrometheusText(text);
    const at = { migration: m.id };
    expect(valueOf(f, 'switchyard_documents_processed_total', at)).toBe(p.scanned);
    expect(valueOf(f, 'switchyard_documents_migrated_total', at)).toBe(p.migrated);
    expect(valueOf(f, 'switchyard_documents_skipped_total', at)).toBe(p.skipped);
    expect(valueOf(f, 'switchyard_documents_conflicted_total', at)).toBe(p.conflicts);
    expect(valueOf(f, 'switchyard_documents_failed_total', at)).toBe(p.errors);
    expect(valueOf(f, 'switchyard_dead_letters', at)).toBe(p.deadLetters);
    expect(p.deadLetters).toBe(await new DeadLetters(s, m.id).count());
    expect(valueOf(f, 'switchyard_backfill_partitions', at)).toBe(4);
    expect(valueOf(f, 'switchyard_backfill_partitions_done', at)).toBe(4);
    expect(valueOf(f, 'switchyard_backfill_documents', at)).toBe(p.total);
    const perPartition = samplesOf(f, 'switchyard_partition_documents_processed_total', at);
    expect(perPartition.map((x) => x.labels.partition).sort()).toEqual([
      '0001',
      '0002',
      '0003',
      '0004',
    ]);
    expect(perPartition.reduce((n, x) => n + x.value, 0)).toBe(p.scanned);
    expect(valueOf(f, 'switchyard_leases', { ...at, pass: 'backfill' })).toBe(0);
    expect(valueOf(f, 'switchyard_backfill_paused', at)).toBe(0);
    expect(
      valueOf(f, 'switchyard_migration_info', { ...at, status: 'backfilled', kind: 'in-place' }),
    ).toBe(1);
    // every batch this worker ran is in the latency histogram
    expect(valueOf(f, 'switchyard_batch_latency_seconds_count', at)).toBe(batches.length);
    expect(valueOf(f, 'switchyard_batch_latency_seconds_bucket', { ...at, le: '+Inf' })).toBe(
      batches.length,
    );
    const sum = batches.reduce((a, b) => a + b, 0) / 1000;
    expect(valueOf(f, 'switchyard_batch_latency_seconds_sum', at)).toBeCloseTo(sum, 6);
    // a finished worker's throttle is not live
    expect(samplesOf(f, 'switchyard_throttle_rate', at)).toEqual([]);
    // every family is named switchyard_*, every counter ends in _total
    for (const fam of f.values()) {
      expect(fam.name).toMatch(/^switchyard_/);
      if (fam.type === 'counter') expect(fam.name).toMatch(/_total$/);
      expect(fam.help).not.toBe('');
    }
  });

  it('shows a running backfill: live leases, workers and their throttle; gone when it stops', async () => {
    const s = store();
    await seedUsers(s, 20_000);
    const ctx = contextFor(s);
    const m = flakyMigration('m-running');
    const heartbeat = new WorkerHeartbeat(s, m.id);
    const controller = new AbortController();
    const run = backfill(ctx, m, {
      batchSize: 50,
      partitions: 4,
      concurrency: 2,
      rate: 500,
      workerId: 'worker-a',
      progressIntervalMs: 200,
      signal: controller.signal,
      onEvent: heartbeat.onEvent,
    });
    try {
      const f = await waitFor('a live worker in the metrics', async () => {
        const fam = parsePrometheusText(await renderProjectMetrics(ctx));
        const rate = valueOf(fam, 'switchyard_throttle_rate', {
          migration: m.id,
          worker: 'worker-a',
        });
        const processed = valueOf(fam, 'switchyard_documents_processed_total', {
          migration: m.id,
        });
        return rate !== undefined && (processed ?? 0) > 0 ? fam : undefined;
      });
      const at = { migration: m.id };
      expect(valueOf(f, 'switchyard_throttle_rate', { ...at, worker: 'worker-a' })).toBe(500);
      expect(valueOf(f, 'switchyard_throttle_batch_size', { ...at, worker: 'worker-a' })).toBe(50);
      const factor = valueOf(f, 'switchyard_throttle_factor', { ...at, worker: 'worker-a' })!;
      expect(factor).toBeGreaterThan(0);
      expect(factor).toBeLessThanOrEqual(1);
      expect(valueOf(f, 'switchyard_leases', { ...at, pass: 'backfill' })).toBe(2);
      expect(valueOf(f, 'switchyard_workers', { ...at, pass: 'backfill' })).toBe(1);
      expect(valueOf(f, 'switchyard_migration_info', { ...at, status: 'backfilling' })).toBe(1);
    } finally {
      controller.abort();
      const r = await run;
      await heartbeat.close();
      expect(r.outcome).toBe('aborted');
    }
    const after = parsePrometheusText(await renderProjectMetrics(ctx));
    const at = { migration: m.id };
    expect(samplesOf(after, 'switchyard_throttle_rate', at)).toEqual([]);
    expect(valueOf(after, 'switchyard_leases', { ...at, pass: 'backfill' })).toBe(0);
    expect(valueOf(after, 'switchyard_backfill_partitions_done', at)).toBeLessThan(4);
  });

  it('reports what the last verify found', async () => {
    const s = store();
    await seedUsers(s, 500);
    const ctx = contextFor(s);
    const m = compileMigration({
      id: 'm-verify',
      collection: 'users',
      up: (d) => {
        d.email = String(d.email).toLowerCase();
      },
    });
    expect((await backfill(ctx, m, { batchSize: 100 })).outcome).toBe('backfilled');
    // three documents changed behind the migration's back
    for (const i of [3, 30, 300]) {
      const key = `u${String(i).padStart(6, '0')}`;
      const cur = (await s.collection('users').get(key))!;
      await s.collection('users').write([{ type: 'put', key, doc: { ...cur.doc, email: 'X' } }]);
    }
    const report = await verify(ctx, m, {});
    expect(report.ok).toBe(false);
    const f = parsePrometheusText(await renderProjectMetrics(ctx));
    const at = { migration: m.id };
    expect(valueOf(f, 'switchyard_verify_mismatches', { ...at, kind: 'mismatched' })).toBe(
      report.mismatched,
    );
    expect(report.mismatched).toBe(3);
    expect(valueOf(f, 'switchyard_verify_compared_documents', at)).toBe(report.compared);
    expect(valueOf(f, 'switchyard_verify_ok', at)).toBe(0);
    expect(valueOf(f, 'switchyard_verify_documents_processed_total', at)).toBe(500);
    expect(valueOf(f, 'switchyard_leases', { ...at, pass: 'verify' })).toBe(0);
    expect(valueOf(f, 'switchyard_verify_timestamp_seconds', at)).toBeGreaterThan(
      Date.now() / 1000 - 600,
    );
  });

  it("shows a side-by-side migration's runtime counters per side and stage over the window", async () => {
    const s = store();
    const ctx = contextFor(s);
    await ctx.catalog.register({
      id: 'm-sbs',
      collection: 'users',
      kind: 'side-by-side',
      from: 1,
      to: 2,
      checksum: 'x',
    });
    await ctx.catalog.update('m-sbs', (e) => ({
      ...e,
      sideBySide: { stage: 'shadow', percent: 0 },
    }));
    const now = Date.now();
    const side = (reads: number, writes: number, errors: number, bucket: number) => {
      const latency = new Array<number>(17).fill(0);
      latency[bucket] = reads + writes;
      return { reads, writes, errors, latency };
    };
    for (const [instance, at] of [
      ['app-1', now - 5000],
      ['app-2', now - 3000],
    ] as const)
      await publishSample(s, {
        migration: 'm-sbs',
        instance,
        at,
        since: at - 5000,
        stage: 'shadow',
        percent: 0,
        old: side(100, 20, 1, 4),
        new: side(100, 20, 3, 6),
        compared: 100,
        mismatched: 7,
        candidateErrors: 2,
        paths: { email: 5, 'address.zip': 2 },
      });
    const w = await readRuntimeWindow(s, 'm-sbs', 60_000, now);
    const f = parsePrometheusText(await renderProjectMetrics(ctx, { now }));
    const at = { migration: 'm-sbs', stage: 'shadow' };
    expect(valueOf(f, 'switchyard_migration_info', { migration: 'm-sbs', stage: 'shadow' })).toBe(
      1,
    );
    expect(valueOf(f, 'switchyard_runtime_window_instances', { migration: 'm-sbs' })).toBe(2);
    for (const sd of ['old', 'new'] as const) {
      expect(valueOf(f, 'switchyard_runtime_window_reads', { ...at, side: sd })).toBe(w[sd].reads);
      expect(valueOf(f, 'switchyard_runtime_window_writes', { ...at, side: sd })).toBe(
        w[sd].writes,
      );
      expect(valueOf(f, 'switchyard_runtime_window_errors', { ...at, side: sd })).toBe(
        w[sd].errors,
      );
      expect(
        valueOf(f, 'switchyard_runtime_window_latency_seconds', {
          ...at,
          side: sd,
          quantile: '0.99',
        }),
      ).toBeCloseTo(w[sd].p99Ms! / 1000, 9);
    }
    expect(w.old.reads).toBe(200);
    expect(valueOf(f, 'switchyard_runtime_window_compared', at)).toBe(200);
    expect(valueOf(f, 'switchyard_runtime_window_mismatches', at)).toBe(14);
    expect(valueOf(f, 'switchyard_runtime_window_candidate_errors', at)).toBe(4);
    expect(valueOf(f, 'switchyard_runtime_window_mismatch_ratio', at)).toBeCloseTo(0.07, 9);
    expect(valueOf(f, 'switchyard_runtime_window_error_ratio', at)).toBeCloseTo(w.errorRate!, 9);
    expect(valueOf(f, 'switchyard_runtime_window_latency_ratio', at)).toBeCloseTo(
      w.latencyRatio!,
      9,
    );
    expect(valueOf(f, 'switchyard_runtime_window_mismatch_paths', { ...at, path: 'email' })).toBe(
      10,
    );
    // outside the window: nothing
    const later = parsePrometheusText(
      await renderProjectMetrics(ctx, { now: now + 120_000, runtimeWindowMs: 60_000 }),
    );
    expect(valueOf(later, 'switchyard_runtime_window_reads', { ...at, side: 'old' })).toBe(0);
    expect(samplesOf(later, 'switchyard_runtime_window_mismatch_ratio')).toEqual([]);
  });

  it('is what a CLI backfill leaves in the state store (the heartbeat is attached by the command)', async () => {
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-split.mjs'),
      `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' ')] });
`,
    );
    const s = store();
    await seedUsers(s, 2000);
    const r = await runCli(
      [
        '--store',
        `sqlite:${db}`,
        '--migrations',
        path.join(dir, 'migrations'),
        '--json',
        'backfill',
        'split',
        '--batch-size',
        '100',
        '--partitions',
        '3',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(done.event).toBe('done');
    const f = parsePrometheusText(await renderProjectMetrics(contextFor(s)));
    const at = { migration: '20261120-split' };
    expect(valueOf(f, 'switchyard_documents_processed_total', at)).toBe(done.scanned);
    expect(valueOf(f, 'switchyard_documents_migrated_total', at)).toBe(done.migrated);
    expect(valueOf(f, 'switchyard_documents_skipped_total', at)).toBe(done.skipped);
    expect(valueOf(f, 'switchyard_documents_conflicted_total', at)).toBe(done.conflicts);
    expect(valueOf(f, 'switchyard_documents_failed_total', at)).toBe(done.errors);
    expect(done.migrated).toBe(2000);
    // 2000 documents in 3 partitions of batches of 100: at least 20 batches
    expect(valueOf(f, 'switchyard_batch_latency_seconds_count', at)).toBeGreaterThanOrEqual(20);
  });
});

describe('createRuntimeMetrics', () => {
  it('counts calls and comparisons per side and stage, on a shared registry', async () => {
    const registry = new Registry();
    const a = createRuntimeMetrics(registry);
    const b = createRuntimeMetrics(registry); // a second yard on the same registry
    for (let i = 0; i < 10; i++)
      a.recordCall({
        migration: 'm',
        side: 'old',
        stage: 'shadow',
        op: 'read',
        ms: i,
        failed: i === 0,
      });
    b.recordCall({
      migration: 'm',
      side: 'new',
      stage: 'shadow',
      op: 'write',
      ms: 3,
      failed: false,
    });
    a.recordComparison({ migration: 'm', stage: 'shadow', mismatched: true });
    a.recordComparison({ migration: 'm', stage: 'shadow', mismatched: false });
    b.recordComparison({
      migration: 'm',
      stage: 'shadow',
      mismatched: false,
      candidateError: true,
    });
    const f = parsePrometheusText(await registry.metrics());
    const old = { migration: 'm', side: 'old', stage: 'shadow' };
    expect(valueOf(f, 'switchyard_runtime_reads_total', old)).toBe(10);
    expect(valueOf(f, 'switchyard_runtime_errors_total', old)).toBe(1);
    expect(
      valueOf(f, 'switchyard_runtime_writes_total', {
        migration: 'm',
        side: 'new',
        stage: 'shadow',
      }),
    ).toBe(1);
    expect(valueOf(f, 'switchyard_runtime_latency_seconds_count', { ...old, op: 'read' })).toBe(10);
    expect(
      valueOf(f, 'switchyard_runtime_latency_seconds_sum', { ...old, op: 'read' }),
    ).toBeCloseTo(0.045, 9);
    expect(
      valueOf(f, 'switchyard_runtime_latency_seconds_bucket', { ...old, op: 'read', le: '0.004' }),
    ).toBe(5); // 0, 1, 2, 3, 4 ms
    const st = { migration: 'm', stage: 'shadow' };
    expect(valueOf(f, 'switchyard_runtime_comparisons_total', st)).toBe(2);
    expect(valueOf(f, 'switchyard_runtime_mismatches_total', st)).toBe(1);
    expect(valueOf(f, 'switchyard_runtime_candidate_errors_total', st)).toBe(1);
  });
});
