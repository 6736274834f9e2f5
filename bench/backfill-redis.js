/**
 * Backfill throughput on Redis, side by side in one run, on the same throwaway server (the
 * sqlite version is bench/backfill.js, DynamoDB's bench/backfill-dynamodb.js; same documents,
 * same transform):
 *   - hand:       a hand-written batched loop with ioredis, unconditional writes: SCAN (COUNT
 *                 1000) + one pipeline of GETs and one of SETs per page;
 *   - hand-mget:  (for reference only) the same loop with one MGET and one MSET per page;
 *   - switchyard: `backfill()` in process without the journal (the split is exactly
 *                 invertible), and with it, reported separately; state in the same store;
 *   - nosweep:    (for reference only) switchyard without the journal and without the final
 *                 sweep (on by default on Redis: one more walk of the collection), its cost.
 * Each contender runs in its own child process (peak RSS is its own) against data reloaded
 * through the adapter (FLUSHDB first), and every run is checked: the contender must report every
 * document done, and a sample of documents, read back through the adapter, must be exactly what
 * the transform gives. The best of 2 rounds counts. Besides the time, each run reports the CPU
 * seconds of the contender's process and of the server's (from /proc, Linux): on a busy machine
 * the sum says more than the time, and it shows which side is the bottleneck.
 *
 * Server: a redis-server child (`--save "" --appendonly no`, temp dir) on a free 127.0.0.1 port.
 *
 *   npm run build && node bench/backfill-redis.js
 *   BENCH_REDIS_DOCS=200000 BENCH_REDIS_ROUNDS=2          size and rounds (defaults)
 *   BENCH_CONTENDERS=nojournal,journal,nosweep            these contenders only (and hand)
 *   BENCH_SY_BATCH / BENCH_SY_CONCURRENCY / BENCH_SY_PARTITIONS   switchyard settings
 *   BENCH_CPU_PROF=<dir>                                  --cpu-prof the switchyard children
 *
 * Target (issue 6): switchyard without journal >= 0.8 x hand.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchProject, makeDoc, splitName } from './docs.js';
import { checkSample, cpuOf, dist, runChild, sleep, stopChild } from './support.js';

const DOCS = Number(process.env.BENCH_REDIS_DOCS ?? 200_000);
const TARGET = 0.8;
/** every contender once per round; the best round counts (redis runs are short and noisy on a
 * small machine) */
const ROUNDS = Number(process.env.BENCH_REDIS_ROUNDS ?? 2);
/**
 * switchyard's settings (env BENCH_SY_* override): one partition and one lane:
 * the adapter reads the next page ahead, so one lane already overlaps client and server, and every
 * hash partition SCANs the whole keyspace (CPU client + server for 200,000 documents, batch /
 * concurrency / partitions: 1000/1/1 3.9 s, 1000/2/2 4.8 s, 1000/2/4 5.1 s, 500/2/16 7.2 s, the
 * last one before split() was capped at 4).
 */
const SETTINGS = { batchSize: 1000, concurrency: 1, partitions: 1 };
const self = fileURLToPath(import.meta.url);

function settingsOf() {
  const env = (name, dflt) => Number(process.env[`BENCH_SY_${name}`] ?? dflt);
  return {
    batchSize: env('BATCH', SETTINGS.batchSize),
    concurrency: env('CONCURRENCY', SETTINGS.concurrency),
    partitions: env('PARTITIONS', SETTINGS.partitions),
  };
}

// ---------------------------------------------------------------- servers

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function redisVersion() {
  const bin = process.env.SWITCHYARD_REDIS_SERVER ?? 'redis-server';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? { bin, version: /v=(\S+)/.exec(r.stdout)?.[1] ?? 'unknown' } : null;
}

/** redis-server on a free loopback port, persistence off, in `dir`. */
async function startRedis(bin, dir) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      bin,
      // prettier-ignore
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    let exited = false;
    child.on('exit', () => (exited = true));
    for (let i = 0; i < 100 && !exited; i++) {
      if (await ping(port)) return { port, child };
      await sleep(50);
    }
    if (!exited) child.kill('SIGKILL');
  }
  throw new Error('redis-server did not start (5 attempts)');
}

// ---------------------------------------------------------------- data

/** Empty the store (data and switchyard's state) and load `n` documents through the adapter. */
async function load(url, n) {
  const { openStore } = await import(dist('index.js'));
  const store = await openStore(url);
  try {
    await store.connection.call('FLUSHDB', []);
    const c = store.collection('users');
    const step = 5000;
    for (let i = 0; i < n; i += step) {
      const ops = [];
      for (let j = i; j < Math.min(n, i + step); j++) {
        const doc = makeDoc(j);
        ops.push({ type: 'put', key: doc._id, doc });
      }
      await c.write(ops);
    }
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- contenders

const contenders = {
  async 'redis:hand'(url) {
    const { Redis } = await import('ioredis');
    const r = new Redis({ host: '127.0.0.1', port: Number(new URL(url).port) });
    let cursor = '0';
    let done = 0;
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', 'sy:users:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const read = r.pipeline();
      for (const k of keys) read.get(k);
      const values = await read.exec();
      const write = r.pipeline();
      let writes = 0;
      values.forEach(([err, text], i) => {
        if (err) throw err;
        if (text === null) return;
        const doc = JSON.parse(text);
        if (doc._sv === 2) return;
        write.set(keys[i], JSON.stringify(splitName(doc)));
        writes += 1;
      });
      if (writes > 0) for (const [err] of await write.exec()) if (err) throw err;
      done += writes;
    } while (cursor !== '0');
    await r.quit();
    return done;
  },

  /** the same loop with one MGET and one MSET per page instead of pipelines of GET / SET */
  async 'redis:hand-mget'(url) {
    const { Redis } = await import('ioredis');
    const r = new Redis({ host: '127.0.0.1', port: Number(new URL(url).port) });
    let cursor = '0';
    let done = 0;
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', 'sy:users:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await r.mget(keys);
      const pairs = [];
      values.forEach((text, i) => {
        if (text === null) return;
        const doc = JSON.parse(text);
        if (doc._sv === 2) return;
        pairs.push(keys[i], JSON.stringify(splitName(doc)));
      });
      if (pairs.length > 0) await r.mset(pairs);
      done += pairs.length / 2;
    } while (cursor !== '0');
    await r.quit();
    return done;
  },

  async switchyard(url, journal, settings, finalSweep) {
    const sy = await import(dist('index.js'));
    const { backfill } = await import(dist('engine/backfill.js'));
    const store = await sy.openStore(url);
    const { migration, ctx } = benchProject(sy, store);
    const r = await backfill(ctx, migration, {
      ...settings,
      journal,
      ...(finalSweep === false ? { finalSweep } : {}),
      progressIntervalMs: 5000,
    });
    if (r.outcome !== 'backfilled') throw new Error(`backfill ended ${r.outcome}: ${r.message}`);
    await store.close();
    return r.progress.migrated;
  },
};

async function child(name, url, n) {
  const settings = settingsOf();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const done =
    name === 'hand' || name === 'hand-mget'
      ? await contenders[`redis:${name}`](url)
      : await contenders.switchyard(url, name === 'journal', settings, name !== 'nosweep');
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await checkSample(`redis ${name}`, url, n, done);
  console.log(
    JSON.stringify({
      name,
      done,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

// ---------------------------------------------------------------- the run

const LABEL = {
  hand: 'hand-written batched loop',
  'hand-mget': 'hand loop with MGET/MSET (reference)',
  nojournal: 'switchyard, no journal',
  journal: 'switchyard, with journal',
  nosweep: 'switchyard, no journal, no final sweep (reference)',
};
/** the contenders; 'hand' is the baseline of the ratios and the target */
const CONTENDERS = ['hand', 'hand-mget', 'nojournal', 'journal', 'nosweep'];

async function benchRedis(url, rows, serverPid) {
  const kind = 'redis';
  const n = DOCS;
  const bench = 'backfill-redis';
  const settings = settingsOf();
  const only = process.env.BENCH_CONTENDERS?.split(',');
  const names = CONTENDERS.filter((c) => c === 'hand' || only === undefined || only.includes(c));
  const rounds = ROUNDS;
  const results = {};
  for (let round = 1; round <= rounds; round++) {
    for (const name of names) {
      const t = performance.now();
      await load(url, n);
      const loaded = ((performance.now() - t) / 1000).toFixed(1);
      console.error(
        `bench backfill-redis: loaded ${n.toLocaleString('en-US')} documents in ${loaded} s; ${name} (round ${round}/${rounds}) ...`,
      );
      const prof = process.env.BENCH_CPU_PROF;
      const nodeArgs =
        prof && !name.startsWith('hand')
          ? [
              '--cpu-prof',
              `--cpu-prof-dir=${prof}`,
              `--cpu-prof-name=${kind}-${name}-${round}.cpuprofile`,
            ]
          : [];
      const serverCpu0 = cpuOf(serverPid);
      const r = await runChild(self, ['--child', name, url, String(n)], nodeArgs);
      const serverCpu = serverCpu0 === null ? null : cpuOf(serverPid) - serverCpu0;
      r.serverCpuSeconds = serverCpu;
      const loadavg = os.loadavg()[0].toFixed(2);
      console.error(
        `bench backfill-redis: ${name}: ${Math.round(r.done / r.seconds)} docs/s in ${r.seconds.toFixed(2)} s, CPU ${r.cpuSeconds.toFixed(2)} s (server ${serverCpu?.toFixed(2) ?? '?'} s), peak RSS ${r.peakRssMB} MB, load ${loadavg}`,
      );
      // the best of the rounds (the least disturbed by the machine); the largest peak RSS
      const prev = results[name];
      results[name] =
        prev === undefined || r.done / r.seconds > prev.done / prev.seconds
          ? { ...r, peakRssMB: Math.max(r.peakRssMB, prev?.peakRssMB ?? 0) }
          : { ...prev, peakRssMB: Math.max(r.peakRssMB, prev.peakRssMB) };
    }
  }
  const rate = (name) => results[name].done / results[name].seconds;
  const row = (metric, value, unit) => rows.push({ bench, metric, value, unit });
  row('documents', n, 'docs');
  row('rounds (best counts)', rounds, '');
  row(
    'switchyard settings (batch/concurrency/partitions)',
    `${settings.batchSize}/${settings.concurrency}/${settings.partitions}`,
    '',
  );
  for (const name of names) row(`${LABEL[name]}: throughput`, Math.round(rate(name)), 'docs/s');
  for (const name of names.filter((x) => x !== 'hand'))
    row(`${LABEL[name]} / hand loop`, Number((rate(name) / rate('hand')).toFixed(2)), 'ratio');
  for (const name of ['nojournal', 'journal'].filter((x) => names.includes(x)))
    row(`${LABEL[name]}: peak RSS`, results[name].peakRssMB, 'MB');
  for (const name of names) {
    const r = results[name];
    const server = r.serverCpuSeconds === null ? '?' : r.serverCpuSeconds.toFixed(2);
    row(`${LABEL[name]}: CPU client + server`, `${r.cpuSeconds.toFixed(2)} + ${server}`, 's');
  }
  return rate('nojournal') / rate('hand');
}

export async function run() {
  const rows = [];
  const redis = redisVersion();
  if (redis === null) {
    rows.push({
      bench: 'backfill-redis',
      metric: 'skipped: redis-server is not installed',
      value: '-',
      unit: '',
    });
    return rows;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-redis-'));
  const { port, child: server } = await startRedis(redis.bin, dir);
  const kill = () => server.kill('SIGKILL');
  process.once('exit', kill);
  try {
    console.error(`bench backfill-redis: redis-server ${redis.version} on 127.0.0.1:${port}`);
    const ratio = await benchRedis(`redis://127.0.0.1:${port}/0`, rows, server.pid);
    await stopChild(server);
    rows.push({
      bench: 'backfill-redis',
      metric: `target met (>= ${TARGET} of the hand loop, no journal)`,
      value: ratio >= TARGET ? 'yes' : 'NO',
      unit: '',
    });
    return rows;
  } finally {
    kill();
    process.removeListener('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
} else if (process.argv[1] === self) {
  console.log(JSON.stringify(await run()));
}
