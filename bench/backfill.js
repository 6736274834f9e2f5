/**
 * Backfill throughput on the sqlite store, side by side in one run:
 *   - hand:       a hand-written batched loop (read pages of 1,000, transform, write 1,000 per
 *                 transaction) — what a careful engineer writes in an afternoon;
 *   - switchyard: `backfill()` without the journal, and with it (before-images, write-ahead);
 *   - naive:      one document at a time (read one, transform, write it in its own transaction).
 * Each contender runs in its own child process on its own copy of the same database, so peak
 * RSS is its own. Every run is checked: a sample of documents must be transformed correctly.
 *
 *   npm run build && node bench/backfill.js        # BENCH_BACKFILL_DOCS=1000000 by default
 *
 * Targets (issue 4): without journal >= 0.85 x hand, with journal >= 0.5 x hand, peak RSS < 250 MB.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchProject, makeDoc, pages, reportChild, splitName } from './docs.js';

const DOCS = Number(process.env.BENCH_BACKFILL_DOCS ?? 1_000_000);
const NAIVE_DOCS = Math.min(DOCS, Number(process.env.BENCH_NAIVE_DOCS ?? 100_000));
const here = fileURLToPath(new URL('.', import.meta.url));
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;

/** An SQLite file of `n` generated documents (bench/jobs.js uses it too). */
export async function generate(file, n = DOCS) {
  const { SqliteStore } = await import(dist('store/sqlite/sqlite-adapter.js'));
  const store = new SqliteStore(file, `sqlite:${file}`);
  const c = store.collection('users');
  for (let i = 0; i < n; i += 5000) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 5000); j++)
      ops.push({ type: 'put', key: makeDoc(j)._id, doc: makeDoc(j) });
    await c.write(ops);
  }
  store.database.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
}

const contenders = {
  async hand(file, n) {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const select = db.prepare('SELECT k, doc FROM users WHERE k > ? ORDER BY k LIMIT 1000');
    const update = db.prepare('UPDATE users SET doc = ?, rev = ? WHERE k = ?');
    let done = 0;
    let rev = 0;
    const writeBatch = db.transaction((rows) => {
      for (const r of rows)
        update.run(JSON.stringify(splitName(JSON.parse(r.doc))), `h${++rev}`, r.k);
    });
    for (const rows of pages(select)) {
      writeBatch(rows);
      done += rows.length;
      if (done >= n) break;
    }
    db.close();
    return done;
  },

  async naive(file, n) {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const next = db.prepare('SELECT k FROM users WHERE k > ? ORDER BY k LIMIT 1');
    const read = db.prepare('SELECT doc FROM users WHERE k = ?');
    const update = db.prepare('UPDATE users SET doc = ?, rev = ? WHERE k = ?');
    let cursor = '';
    let done = 0;
    while (done < n) {
      const row = next.get(cursor);
      if (row === undefined) break;
      const doc = JSON.parse(read.get(row.k).doc);
      update.run(JSON.stringify(splitName(doc)), `n${done}`, row.k);
      cursor = row.k;
      done += 1;
    }
    db.close();
    return done;
  },

  async switchyard(file, n, journal) {
    const sy = await import(dist('index.js'));
    const { backfill } = await import(dist('engine/backfill.js'));
    const store = new sy.SqliteStore(file, `sqlite:${file}`);
    const { migration, ctx } = benchProject(sy, store);
    const r = await backfill(ctx, migration, {
      batchSize: 1000,
      concurrency: 1,
      partitions: 4,
      journal,
      progressIntervalMs: 5000,
    });
    if (r.outcome !== 'backfilled') throw new Error(`backfill ended ${r.outcome}: ${r.message}`);
    await store.close();
    return r.progress.migrated;
  },
};

async function child(name, file, n) {
  const started = performance.now();
  const done =
    name === 'journal'
      ? await contenders.switchyard(file, n, true)
      : name === 'nojournal'
        ? await contenders.switchyard(file, n, false)
        : await contenders[name](file, n);
  const seconds = (performance.now() - started) / 1000;
  // check a sample: transformed exactly as splitName would
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file, { readonly: true });
  for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
    const got = JSON.parse(db.prepare('SELECT doc FROM users WHERE k = ?').get(makeDoc(i)._id).doc);
    const want = splitName(makeDoc(i));
    for (const k of Object.keys(want))
      if (JSON.stringify(got[k]) !== JSON.stringify(want[k]))
        throw new Error(
          `${name}: document ${i} field ${k} is ${JSON.stringify(got[k])}, expected ${JSON.stringify(want[k])}`,
        );
  }
  db.close();
  reportChild(name, done, seconds);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-backfill-'));
  try {
    const base = join(dir, 'base.db');
    console.error(`bench backfill: generating ${DOCS.toLocaleString('en-US')} documents ...`);
    await generate(base);
    const results = {};
    for (const name of ['hand', 'nojournal', 'journal', 'naive']) {
      const file = join(dir, `${name}.db`);
      copyFileSync(base, file);
      const n = name === 'naive' ? NAIVE_DOCS : DOCS;
      console.error(`bench backfill: ${name} (${n.toLocaleString('en-US')} documents) ...`);
      const res = spawnSync(
        process.execPath,
        [join(here, 'backfill.js'), '--child', name, file, String(n)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      if (res.status !== 0) throw new Error(`contender ${name} failed (exit ${res.status})`);
      results[name] = JSON.parse(res.stdout.trim().split('\n').pop());
      rmSync(file, { force: true });
      rmSync(`${file}-wal`, { force: true });
    }
    const rate = (r) => r.done / r.seconds;
    const hand = rate(results.hand);
    const rows = [{ bench: 'backfill', metric: 'documents', value: DOCS, unit: 'docs' }];
    const label = {
      hand: 'hand-written batched loop',
      nojournal: 'switchyard, no journal',
      journal: 'switchyard, with journal',
      naive: 'naive one-at-a-time loop',
    };
    for (const name of ['hand', 'nojournal', 'journal', 'naive']) {
      rows.push({
        bench: 'backfill',
        metric: `${label[name]}: throughput`,
        value: Math.round(rate(results[name])),
        unit: 'docs/s',
      });
    }
    for (const name of ['nojournal', 'journal', 'naive']) {
      rows.push({
        bench: 'backfill',
        metric: `${label[name]} / hand loop`,
        value: Number((rate(results[name]) / hand).toFixed(2)),
        unit: 'ratio',
      });
    }
    for (const name of ['hand', 'nojournal', 'journal'])
      rows.push({
        bench: 'backfill',
        metric: `${label[name]}: peak RSS`,
        value: results[name].peakRssMB,
        unit: 'MB',
      });
    const r = (name) => rate(results[name]) / hand;
    const peak = Math.max(results.nojournal.peakRssMB, results.journal.peakRssMB);
    rows.push({
      bench: 'backfill',
      metric: 'targets met (>= 0.85 no journal, >= 0.5 journal, < 250 MB)',
      value: r('nojournal') >= 0.85 && r('journal') >= 0.5 && peak < 250 ? 'yes' : 'NO',
      unit: '',
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// run directly (not imported: bench/jobs.js imports generate)
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--child')
    await child(process.argv[3], process.argv[4], Number(process.argv[5]));
  else console.log(JSON.stringify(await run()));
}
