/**
 * Backfill and import throughput on Amazon's DynamoDB Local, side by side in one run, on one
 * throwaway server (same documents and transform as bench/backfill.js and backfill-redis.js):
 *   - hand:      parallel Scan (4 segments, pages of 1,000) + BatchWriteItem of 25, unconditional
 *                (8 requests in flight per segment, UnprocessedItems retried) — the baseline;
 *   - ddt:       dynamo-data-transform's method, reproduced here (not its code): one Scan of 25
 *                items at a time, then one BatchWriteItem of those 25, unconditional (it does not
 *                retry UnprocessedItems; this version does);
 *   - partiql:   the hand loop with conditional writes: BatchExecuteStatement of 25 UPDATEs, each
 *                conditional on the field it changes (a reference: the ceiling of that request);
 *   - tx:        the same with TransactWriteItems of 100 conditional Puts (a reference);
 *   - partiql-whole, tx-whole: the PartiQL loop and TransactWriteItems of 100 Updates (SET what changes, REMOVE name), each
 *                conditional on the whole item as read, the condition Switchyard's conflict
 *                safety needs (every attribute equal, the new ones absent): the ceiling of a
 *                conflict-safe write on this engine;
 *   - nojournal, journal: switchyard's `backfill()` in process (its default write mode, PartiQL
 *                batches; every write conditional on the whole item read), without and with the
 *                undo journal, state in the same DynamoDB;
 *   - nojournal-tx: the same with `?writes=transactions`.
 * Rounds alternate the contenders (every contender once per round, in order) and the median
 * counts. Each run is a child process (its peak RSS and CPU are its own) on data reloaded through
 * the adapter (every table dropped first); it must report every document done, and a sample read
 * back through the adapter must be exactly what the transform gives. Per contender: docs/s,
 * requests per item (every HTTP request the SDK sends, SDK retries included, state included),
 * client CPU per item (the child process) and server CPU per item (the JVM, from /proc).
 * `import` is measured too: importDocuments() of an NDJSON file into an empty table. The hand
 * loops and the request counter are in bench/dynamodb-hand-loops.js.
 * Memory, per Switchyard run: peak RSS, and what the run holds apart from garbage V8 has not yet
 * collected (bench/support.js): the live heap (the most in use right after a full GC during the
 * run) and the heap held at the end (a forced GC before the store closes, its remembered items
 * included). Peak RSS grows with the run's length as V8 lets its heap grow; these two do not
 * unless something is kept per item.
 *
 * DynamoDB Local: `scripts/fetch-dynamodb-local.sh` (needs Java 17+); it runs with the JVM's
 * default flags (full JIT), after an untimed warm-up of every write path.
 *
 *   npm run build && node bench/backfill-dynamodb.js
 *   BENCH_DYNAMODB_DOCS=20000,100000   sizes (defaults); BENCH_DYNAMODB_ROUNDS=3
 *   BENCH_CONTENDERS=hand,nojournal    these contenders only (hand always runs)
 *   BENCH_DYNAMODB_IMPORT_DOCS=3000    documents imported
 *   BENCH_NODE_ARGS=--max-old-space-size=128   node flags for every contender's child process
 *
 * Targets (issue 14): switchyard without journal >= 0.8 x hand, with journal >= 0.6 x hand,
 * faster than ddt; peak RSS flat from 20,000 to 100,000 documents.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import { benchProject, makeDoc } from './docs.js';
import { counted, handLoops, requests } from './dynamodb-hand-loops.js';
import {
  checkSample,
  cpuOf,
  dist,
  heapAfterGc,
  median,
  runChild,
  watchLiveHeap,
} from './support.js';

// the AWS SDK's 'node >= 22 from 2027' notice, once per child process, is noise here
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const SIZES = (process.env.BENCH_DYNAMODB_DOCS ?? '20000,100000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_DYNAMODB_ROUNDS ?? 3);
const IMPORT_DOCS = Number(process.env.BENCH_DYNAMODB_IMPORT_DOCS ?? 3000);
const TARGET = { nojournal: 0.8, journal: 0.6 };
/** the contenders at 20,000 documents and below; larger runs keep the ones the targets name */
const ALL = [
  'hand',
  'ddt',
  'partiql',
  'tx',
  'partiql-whole',
  'tx-whole',
  'nojournal',
  'journal',
  'nojournal-tx',
];
const LARGE = ['hand', 'ddt', 'nojournal', 'journal'];
const LABEL = {
  hand: 'hand loop: parallel Scan + BatchWriteItem of 25, unconditional',
  ddt: "dynamo-data-transform's method: Scan of 25 + BatchWriteItem",
  partiql: 'hand loop: BatchExecuteStatement of 25 conditional UPDATEs',
  tx: 'hand loop: TransactWriteItems of 100 conditional Puts',
  'tx-whole': 'hand loop: TransactWriteItems of 100 Updates, whole-item conditions',
  'partiql-whole': 'hand loop: BatchExecuteStatement of 25 UPDATEs, whole-item conditions',
  nojournal: 'switchyard, no journal',
  journal: 'switchyard, with journal',
  'nojournal-tx': 'switchyard, no journal, writes=transactions',
};
/** switchyard's settings: 4 partitions (scan segments) worked at once, like the hand loop */
const SETTINGS = { batchSize: 1000, concurrency: 4, partitions: 4 };
/** every child: gc() for the heap held at the end; BENCH_NODE_ARGS adds more (e.g. a heap cap) */
const CHILD_NODE_ARGS = [
  '--expose-gc',
  ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
];
const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- contenders

const contenders = {
  ...handLoops,

  async switchyard(url, journal) {
    const sy = await import(dist('index.js'));
    const { backfill } = await import(dist('engine/backfill.js'));
    const store = await sy.openStore(url);
    counted(store.client);
    const { migration, ctx } = benchProject(sy, store);
    const live = watchLiveHeap();
    const r = await backfill(ctx, migration, { ...SETTINGS, journal, progressIntervalMs: 5000 });
    memory.liveHeapMB = live();
    memory.heldAtEndMB = heapAfterGc();
    if (r.outcome !== 'backfilled') throw new Error(`backfill ended ${r.outcome}: ${r.message}`);
    if (r.progress.migrated !== r.progress.total)
      console.error(`bench backfill-dynamodb: ${JSON.stringify(r.progress)}`);
    await store.close();
    return r.progress.migrated;
  },

  /** importDocuments() of an NDJSON file of `n` documents into the empty table 'users' */
  async import(url, n) {
    const sy = await import(dist('index.js'));
    const { importDocuments } = await import(dist('io/import-documents.js'));
    const dir = mkdtempSync(join(tmpdir(), 'sy-bench-import-'));
    const file = join(dir, 'users.ndjson');
    const out = createWriteStream(file);
    for (let i = 0; i < n; i++)
      if (!out.write(`${JSON.stringify(makeDoc(i))}\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'close');
    const store = await sy.openStore(url);
    counted(store.client);
    requests.total = 0;
    requests.byCommand = {};
    const started = performance.now();
    const summary = await importDocuments(store.collection('users'), file);
    const seconds = (performance.now() - started) / 1000;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    return { done: summary.imported, seconds };
  },
};

/** a Switchyard run's heap, MB: the most after a full GC during it, and after a forced GC at its end */
const memory = { liveHeapMB: null, heldAtEndMB: null };

const urlOf = (url, name) => (name.endsWith('-tx') ? `${url}&writes=transactions` : url);
const HAND = new Set(['hand', 'ddt', 'partiql', 'tx', 'partiql-whole', 'tx-whole']);

async function child(name, url, n) {
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let done;
  let seconds;
  if (name === 'import') {
    ({ done, seconds } = await contenders.import(url, n));
  } else {
    done = contenders[name]
      ? await contenders[name](url)
      : await contenders.switchyard(urlOf(url, name), name === 'journal');
    seconds = (performance.now() - started) / 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  if (name === 'import') {
    if (done !== n) throw new Error(`import: imported ${done} documents, expected ${n}`);
  } else await checkSample(`dynamodb ${name}`, url, n, done);
  console.log(
    JSON.stringify({
      name,
      done,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      requests: requests.total,
      byCommand: requests.byCommand,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      ...memory,
    }),
  );
}

// ---------------------------------------------------------------- the run

/**
 * The application's table, made as an application would: no stream. (Through the adapter it
 * would get one, NEW_AND_OLD_IMAGES, for catch-up; on DynamoDB Local a stream makes every write
 * several times dearer, conditional PartiQL ones 30-100 times, and the cost grows with every
 * table dropped and made again in the same server: it was what held the first runs at 31 docs/s.)
 */
async function createTable(client) {
  const { CreateTableCommand, waitUntilTableExists } = await import('@aws-sdk/client-dynamodb');
  await client.send(
    new CreateTableCommand({
      TableName: 'users',
      AttributeDefinitions: [{ AttributeName: '_key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: '_key', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: 'users' });
}

/** Drop every table (data and switchyard's state); load `n` documents through the adapter. */
async function load(url, n) {
  const { openStore } = await import(dist('index.js'));
  const store = await openStore(url);
  try {
    for (const name of await store.listCollections({ includeReserved: true }))
      await store.dropCollection(name);
    await createTable(store.client);
    const c = store.collection('users');
    for (let i = 0; i < n; i += 2000) {
      const ops = [];
      for (let j = i; j < Math.min(n, i + 2000); j++) {
        const doc = makeDoc(j);
        ops.push({ type: 'put', key: doc._id, doc });
      }
      await c.write(ops);
    }
  } finally {
    await store.close();
  }
}

/** contenders (and sizes) whose run failed its check, reported in the table */
const failures = new Set();

/** One run of a contender on freshly loaded data, with the server's CPU (null: it failed). */
async function runOnce(server, name, n) {
  if (name === 'import') await load(server.url, 0);
  else await load(server.url, n);
  const serverCpu0 = cpuOf(server.pid);
  let r;
  try {
    r = await runChild(self, ['--child', name, server.url, String(n)], CHILD_NODE_ARGS);
  } catch (err) {
    // a contender that fails its check is reported as failed; the others still run
    console.error(
      `bench backfill-dynamodb: ${n.toLocaleString('en-US')} ${name}: FAILED (${err.message})`,
    );
    failures.add(`${name} at ${n.toLocaleString('en-US')}`);
    return null;
  }
  r.serverCpuSeconds = serverCpu0 === null ? null : cpuOf(server.pid) - serverCpu0;
  console.error(
    `bench backfill-dynamodb: ${n.toLocaleString('en-US')} ${name}: ${Math.round(r.done / r.seconds)} docs/s in ${r.seconds.toFixed(2)} s, ${(r.requests / r.done).toFixed(3)} requests/item, CPU ${r.cpuSeconds.toFixed(2)} s (server ${r.serverCpuSeconds?.toFixed(2) ?? '?'} s), peak RSS ${r.peakRssMB} MB${r.heldAtEndMB === null ? '' : ` (live heap ${r.liveHeapMB ?? '-'} MB, held at the end ${r.heldAtEndMB} MB)`}, load ${os.loadavg()[0].toFixed(2)}`,
  );
  return r;
}

/** the largest of the numbers among `xs`, '-' when there are none */
const mostOf = (xs) => (xs.some((x) => x != null) ? Math.max(...xs.filter((x) => x != null)) : '-');

function summarize(bench, runs, rows) {
  const row = (metric, value, unit) => rows.push({ bench, metric, value, unit });
  const stat = (name) => {
    const rs = runs[name];
    const rates = rs.map((r) => r.done / r.seconds);
    const per = (f) => median(rs.map((r) => f(r) / r.done));
    return {
      rate: median(rates),
      min: Math.min(...rates),
      max: Math.max(...rates),
      requests: per((r) => r.requests),
      clientMs: per((r) => r.cpuSeconds * 1000),
      serverMs: rs.some((r) => r.serverCpuSeconds === null)
        ? null
        : per((r) => r.serverCpuSeconds * 1000),
      rss: Math.max(...rs.map((r) => r.peakRssMB)),
      live: mostOf(rs.map((r) => r.liveHeapMB)),
      held: mostOf(rs.map((r) => r.heldAtEndMB)),
      commands: rs[0].byCommand,
    };
  };
  const stats = Object.fromEntries(Object.keys(runs).map((name) => [name, stat(name)]));
  for (const [name, s] of Object.entries(stats)) {
    const label = LABEL[name] ?? name;
    row(
      `${label}: docs/s (median; min-max)`,
      `${Math.round(s.rate)} (${Math.round(s.min)}-${Math.round(s.max)})`,
      'docs/s',
    );
    if (name !== 'hand' && stats.hand !== undefined)
      row(`${label} / hand loop`, Number((s.rate / stats.hand.rate).toFixed(2)), 'ratio');
    row(`${label}: requests per item`, Number(s.requests.toFixed(3)), 'req/item');
    row(
      `${label}: CPU per item, client / server`,
      `${s.clientMs.toFixed(3)} / ${s.serverMs?.toFixed(3) ?? '?'}`,
      'ms',
    );
    if (!HAND.has(name)) {
      row(`${label}: peak RSS`, s.rss, 'MB');
      row(`${label}: live heap (after a full GC) / held at the end`, `${s.live} / ${s.held}`, 'MB');
    }
  }
  return stats;
}

export async function run() {
  const jiti = createJiti(import.meta.url);
  const local = await jiti.import('../test/support/dynamodb-local.ts');
  const rows = [];
  const why = local.dynamoDbLocalUnavailable();
  if (why !== null) {
    rows.push({ bench: 'backfill-dynamodb', metric: `skipped: ${why}`, value: '-', unit: '' });
    return rows;
  }
  const only = process.env.BENCH_CONTENDERS?.split(',');
  // (killed with this process if it dies: test/support/server-process.ts)
  const server = await local.startDynamoDbLocal({ jvmFlags: [] });
  try {
    console.error(`bench backfill-dynamodb: DynamoDB Local on 127.0.0.1:${server.port}`);
    // warm-up, not counted: the JVM compiles each write path the contenders use
    for (const name of ['hand', 'partiql', 'tx', 'tx-whole', 'nojournal', 'nojournal-tx'])
      await runOnce(server, name, Math.min(5000, ...SIZES));
    const verdicts = [];
    const rssBySize = [];
    const liveBySize = [];
    for (const n of SIZES) {
      const bench = `backfill-dynamodb-${n / 1000}k`;
      const names = (n <= 20_000 ? ALL : LARGE).filter(
        (c) => c === 'hand' || only === undefined || only.includes(c),
      );
      const runs = Object.fromEntries(names.map((name) => [name, []]));
      for (let round = 1; round <= ROUNDS; round++)
        for (const name of names) {
          const r = await runOnce(server, name, n);
          if (r !== null) runs[name].push(r);
        }
      for (const name of names) if (runs[name].length === 0) delete runs[name];
      rows.push({
        bench,
        metric: 'documents; rounds (median counts)',
        value: `${n}; ${ROUNDS}`,
        unit: '',
      });
      const stats = summarize(bench, runs, rows);
      if (stats.hand === undefined) continue;
      for (const [name, target] of Object.entries(TARGET))
        if (stats[name] !== undefined)
          verdicts.push(
            `${n / 1000}k ${name} ${stats[name].rate / stats.hand.rate >= target ? 'yes' : 'NO'}`,
          );
      if (stats.nojournal !== undefined && stats.ddt !== undefined)
        verdicts.push(
          `${n / 1000}k ahead of ddt ${stats.nojournal.rate > stats.ddt.rate ? 'yes' : 'NO'}`,
        );
      if (stats.nojournal !== undefined) {
        rssBySize.push(`${stats.nojournal.rss}`);
        liveBySize.push(`${stats.nojournal.live} / ${stats.nojournal.held}`);
      }
    }
    const imports = [];
    if (IMPORT_DOCS > 0) {
      for (let round = 1; round <= ROUNDS; round++) {
        const r = await runOnce(server, 'import', IMPORT_DOCS);
        if (r !== null) imports.push(r);
      }
    }
    if (IMPORT_DOCS > 0 && imports.length > 0) {
      const rate = median(imports.map((r) => r.done / r.seconds));
      rows.push({
        bench: 'import-dynamodb',
        metric: `import of ${IMPORT_DOCS} documents (median of ${ROUNDS})`,
        value: Math.round(rate),
        unit: 'docs/s',
      });
      rows.push({
        bench: 'import-dynamodb',
        metric: 'requests per document',
        value: Number(median(imports.map((r) => r.requests / r.done)).toFixed(3)),
        unit: 'req/doc',
      });
    }
    rows.push({
      bench: 'backfill-dynamodb',
      metric: 'switchyard no journal, peak RSS by size',
      value: rssBySize.join(' / '),
      unit: 'MB',
    });
    rows.push({
      bench: 'backfill-dynamodb',
      metric: 'switchyard no journal, live heap / held at the end, by size',
      value: liveBySize.join(', '),
      unit: 'MB',
    });
    if (failures.size > 0)
      rows.push({
        bench: 'backfill-dynamodb',
        metric: 'runs that FAILED their check (see stderr)',
        value: [...failures].join(', '),
        unit: '',
      });
    rows.push({
      bench: 'backfill-dynamodb',
      metric: 'targets met (no journal >= 0.8, journal >= 0.6 of the hand loop, ahead of ddt)',
      value: verdicts.join(', '),
      unit: '',
    });
    return rows;
  } finally {
    await server.stop();
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
} else if (process.argv[1] === self) {
  console.log(JSON.stringify(await run()));
}
