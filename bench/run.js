/**
 * `npm run bench`: run every benchmark module in its own child process (so each one's peak RSS
 * is its own), print one table, and write bench/results.json.
 *
 * A benchmark module exports `async function run(): Promise<Row[]>` with
 * `Row = { bench, metric, value, unit }` and, run directly, prints its rows as one JSON line.
 * Add new ones to BENCHMARKS. Run `npm run build` first: benchmarks import ../dist.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['import-export.js', 'backfill.js', 'backfill-redis.js', 'backfill-dynamodb.js'];

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) {
  console.error('bench: dist/ is missing, run `npm run build` first');
  process.exit(2);
}

const only = process.argv.slice(2);
const rows = [];
let failed = false;
for (const name of BENCHMARKS) {
  if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
  console.error(`bench: running ${name} ...`);
  const res = spawnSync(process.execPath, ['--expose-gc', join(here, name)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const last = res.stdout.trim().split('\n').pop() ?? '';
  if (res.status !== 0 || !last.startsWith('[')) {
    console.error(`bench: ${name} failed (exit ${res.status})`);
    failed = true;
    continue;
  }
  rows.push(...JSON.parse(last));
}

const table = [
  ['bench', 'metric', 'value', 'unit'],
  ...rows.map((r) => [r.bench, r.metric, String(r.value), r.unit]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
for (const [i, r] of table.entries()) {
  console.log(r.map((c, j) => (j === 2 ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

const results = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  rows,
};
writeFileSync(join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.error('bench: wrote bench/results.json');
if (failed) process.exitCode = 1;
