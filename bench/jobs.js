/**
 * The jobs on the runner on one SQLite file, side by side in one run: backfill (with the journal),
 * verify (full) and rollback, each with 1 worker process and with 2 sharing the run, next to the
 * plain loops a user would write for verify and rollback:
 *   - hand verify:   read pages of 1,000 documents and their journal entries (one IN query),
 *                    recompute the expected document from the before-image, compare the JSON;
 *   - hand rollback: read pages of 1,000 journal entries, write their before-images back, one
 *                    transaction per page (no check of what the application wrote since).
 * Each contender runs in its own child process on its own copy of the same database (so peak RSS
 * is its own); 2 workers are two processes on one copy (--worker-id w1, w2), timed from the start
 * of the first to the end of the last. Memory must stay flat: the 1-worker verify and rollback also
 * run on a tenth of the documents, and their peak RSS is shown next to the full run's. Every run is
 * checked: the verify is clean with every document compared, the rollback restores a sample of
 * documents exactly.
 *
 *   npm run build && node bench/jobs.js          # BENCH_JOBS_DOCS=1000000 by default
 *
 * On a machine shared with other work the 2-worker numbers say little about scaling: SQLite takes
 * one writer at a time, and two processes share the cores with everything else.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './backfill.js';
import { benchProject, makeDoc, pages, reportChild, splitName } from './docs.js';

const DOCS = Number(process.env.BENCH_JOBS_DOCS ?? 1_000_000);
const SMALL = Math.max(1000, Math.round(DOCS / 10));
const here = fileURLToPath(new URL('.', import.meta.url));
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
const SETTINGS = { batchSize: 1000, concurrency: 1, partitions: 16, progressIntervalMs: 5000 };

async function project(file) {
  const sy = await import(dist('index.js'));
  const store = new sy.SqliteStore(file, `sqlite:${file}`);
  return { store, ...benchProject(sy, store) };
}

const contenders = {
  async backfill(file, n, worker) {
    const { backfill } = await import(dist('engine/backfill.js'));
    const { store, migration, ctx } = await project(file);
    const r = await backfill(ctx, migration, { ...SETTINGS, workerId: worker });
    if (r.outcome !== 'backfilled') throw new Error(`backfill ended ${r.outcome}: ${r.message}`);
    store.database.pragma('wal_checkpoint(TRUNCATE)');
    await store.close();
    return r.progress.scanned;
  },

  async verify(file, n, worker) {
    const { verify } = await import(dist('engine/verify.js'));
    const { store, migration, ctx } = await project(file);
    const r = await verify(ctx, migration, { ...SETTINGS, workerId: worker });
    if (!r.ok || r.compared !== n)
      throw new Error(`verify: ok ${r.ok}, compared ${r.compared} of ${n}`);
    await store.close();
    return n;
  },

  async rollback(file, n, worker) {
    const { rollback } = await import(dist('engine/rollback.js'));
    const { store, migration, ctx } = await project(file);
    const r = await rollback(ctx, migration, { ...SETTINGS, workerId: worker });
    if (r.outcome !== 'rolled-back' || r.restored + r.untouched !== n || r.conflicts !== 0)
      throw new Error(`rollback: ${JSON.stringify(r)}`);
    await store.close();
    return n;
  },

  async 'hand-verify'(file, n) {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true });
    const page = db.prepare('SELECT k, doc FROM users WHERE k > ? ORDER BY k LIMIT 1000');
    let done = 0;
    let bad = 0;
    for (const rows of pages(page)) {
      const journal = db
        .prepare(
          `SELECT k, doc FROM "_sy_journal_bench-split" WHERE k IN (${rows.map(() => '?').join(',')})`,
        )
        .all(...rows.map((r) => r.k));
      const before = new Map(journal.map((j) => [j.k, JSON.parse(JSON.parse(j.doc).before)]));
      for (const r of rows) {
        const doc = JSON.parse(r.doc);
        const b = before.get(r.k);
        const expected = b === undefined ? doc : splitName(b);
        if (JSON.stringify(sorted(expected)) !== JSON.stringify(sorted(doc))) bad += 1;
      }
      done += rows.length;
    }
    db.close();
    if (bad > 0 || done !== n) throw new Error(`hand verify: ${bad} differ, ${done} of ${n}`);
    return done;
  },

  async 'hand-rollback'(file) {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const page = db.prepare(
      'SELECT k, doc FROM "_sy_journal_bench-split" WHERE k > ? ORDER BY k LIMIT 1000',
    );
    const update = db.prepare('UPDATE users SET doc = ?, rev = ? WHERE k = ?');
    const restore = db.transaction((rows) => {
      for (const r of rows) update.run(JSON.parse(r.doc).before, `h${r.k}`, r.k);
    });
    let done = 0;
    for (const rows of pages(page)) {
      restore(rows);
      done += rows.length;
    }
    db.close();
    return done;
  },
};

/** a document with its keys sorted (how the hand verify compares) */
function sorted(d) {
  return Object.fromEntries(
    Object.keys(d)
      .sort()
      .map((k) => [k, d[k]]),
  );
}

async function child(name, file, n, worker) {
  const started = performance.now();
  const done = await contenders[name](file, n, worker);
  const seconds = (performance.now() - started) / 1000;
  if (name === 'rollback' || name === 'hand-rollback') {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true });
    for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
      const got = db.prepare('SELECT doc FROM users WHERE k = ?').get(makeDoc(i)._id).doc;
      if (got !== JSON.stringify(makeDoc(i)))
        throw new Error(`${name}: document ${i} is ${got}, not the original`);
    }
    db.close();
  }
  reportChild(name, done, seconds);
}

/** Run a contender as `workers` processes on one file; wall time from first start to last end. */
async function contend(name, file, n, workers) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from(
      { length: workers },
      (_, i) =>
        new Promise((resolve, reject) => {
          const c = spawn(
            process.execPath,
            [join(here, 'jobs.js'), '--child', name, file, String(n), `w${i + 1}`],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          c.stdout.on('data', (b) => (out += b.toString()));
          c.on('exit', (code) =>
            code === 0
              ? resolve(JSON.parse(out.trim().split('\n').pop()))
              : reject(new Error(`${name} (${workers} workers) failed: exit ${code}`)),
          );
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: n / seconds, peakRssMB: Math.max(...results.map((r) => r.peakRssMB)) };
}

/** A database of n documents, backfilled by switchyard (journal kept), and a fresh copy of it. */
async function prepare(dir, n) {
  const fresh = join(dir, `fresh-${n}.db`);
  await generate(fresh, n);
  const backfilled = join(dir, `backfilled-${n}.db`);
  copyFileSync(fresh, backfilled);
  const backfill = await contend('backfill', backfilled, n, 1);
  return { fresh, backfilled, backfill };
}

function copy(from, dir, name) {
  const to = join(dir, `${name}.db`);
  copyFileSync(from, to);
  return to;
}

function drop(file) {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-jobs-'));
  const log = (s) => console.error(`bench jobs: ${s}`);
  try {
    log(`generating and backfilling ${DOCS.toLocaleString('en-US')} documents ...`);
    const big = await prepare(dir, DOCS);
    const r = { 'backfill 1': big.backfill };
    const plan = [
      ['backfill', 2, big.fresh],
      ['hand-verify', 1, big.backfilled],
      ['verify', 1, big.backfilled],
      ['verify', 2, big.backfilled],
      ['hand-rollback', 1, big.backfilled],
      ['rollback', 1, big.backfilled],
      ['rollback', 2, big.backfilled],
    ];
    for (const [name, workers, base] of plan) {
      log(`${name}, ${workers} worker(s) ...`);
      const file = copy(base, dir, `${name}-${workers}`);
      r[`${name} ${workers}`] = await contend(name, file, DOCS, workers);
      drop(file);
    }
    log(`memory: verify and rollback on ${SMALL.toLocaleString('en-US')} documents ...`);
    const small = await prepare(dir, SMALL);
    for (const name of ['verify', 'rollback']) {
      const file = copy(small.backfilled, dir, `${name}-small`);
      r[`${name} small`] = await contend(name, file, SMALL, 1);
      drop(file);
    }
    const rows = [{ bench: 'jobs', metric: 'documents', value: DOCS, unit: 'docs' }];
    const row = (metric, value, unit) => rows.push({ bench: 'jobs', metric, value, unit });
    for (const job of ['backfill', 'verify', 'rollback'])
      for (const w of [1, 2])
        row(
          `${job}${job === 'backfill' ? ' (with journal)' : ''}, ${w} worker${w > 1 ? 's' : ''}: throughput`,
          Math.round(r[`${job} ${w}`].rate),
          'docs/s',
        );
    row('hand-written verify loop: throughput', Math.round(r['hand-verify 1'].rate), 'docs/s');
    row('hand-written rollback loop: throughput', Math.round(r['hand-rollback 1'].rate), 'docs/s');
    const ratio = (a, b) => Number((r[a].rate / r[b].rate).toFixed(2));
    row('verify, 1 worker / hand verify loop', ratio('verify 1', 'hand-verify 1'), 'ratio');
    row('rollback, 1 worker / hand rollback loop', ratio('rollback 1', 'hand-rollback 1'), 'ratio');
    for (const job of ['backfill', 'verify', 'rollback'])
      row(`${job}: 2 workers / 1 worker`, ratio(`${job} 2`, `${job} 1`), 'ratio');
    for (const job of ['backfill', 'verify', 'rollback'])
      row(`${job}, 1 worker: peak RSS`, r[`${job} 1`].peakRssMB, 'MB');
    for (const job of ['verify', 'rollback'])
      row(
        `${job}, 1 worker: peak RSS at ${SMALL.toLocaleString('en-US')} / ${DOCS.toLocaleString('en-US')} documents`,
        `${r[`${job} small`].peakRssMB} / ${r[`${job} 1`].peakRssMB}`,
        'MB',
      );
    const flat = ['verify', 'rollback'].every(
      (job) => r[`${job} 1`].peakRssMB < 1.3 * r[`${job} small`].peakRssMB + 20,
    );
    row('memory flat (peak RSS at 10x the documents < 1.3x + 20 MB)', flat ? 'yes' : 'NO', '');
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]), process.argv[6]);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await run()));
}
