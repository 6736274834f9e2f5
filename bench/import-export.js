/**
 * Import and export a million documents through the CLI (in-process, over dist/), and report
 * throughput and peak memory. Target: peak RSS under 300 MB, however large the file.
 *
 *   npm run build && node bench/import-export.js            # prints a JSON array of rows
 *   BENCH_DOCS=100000 node bench/import-export.js           # a smaller run
 *
 * bench/run.js runs it in a child process (so the peak RSS is this benchmark's own).
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const DOCS = Number(process.env.BENCH_DOCS ?? 1_000_000);
const RSS_TARGET_MB = 300;

/** A document of about 200 bytes in canonical Extended JSON. */
function makeDoc(i) {
  const id = (0x5ca4bbce00000000n + BigInt(i)).toString(16).padStart(24, '0');
  return (
    `{"_id":{"$oid":"${id}"},"name":"user-${i}","city":"c${i % 97}",` +
    `"age":{"$numberInt":"${18 + (i % 60)}"},"score":{"$numberDouble":"${(i % 1000) / 7 + 0.5}"},` +
    `"created":{"$date":{"$numberLong":"${1_500_000_000_000 + i * 1000}"}},` +
    `"tags":["t${i % 7}"],"active":${i % 2 === 0}}\n`
  );
}

async function generate(file, n) {
  const out = createWriteStream(file);
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf += makeDoc(i);
    if (buf.length >= 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

const sink = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

function rssMb() {
  return process.resourceUsage().maxRSS / 1024;
}

export async function run() {
  const { main } = await import('../dist/cli/main.js');
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-'));
  const rows = [];
  const row = (metric, value, unit) => rows.push({ bench: 'import-export', metric, value, unit });
  try {
    const input = join(dir, 'docs.ndjson');
    const output = join(dir, 'out.ndjson');
    const store = `sqlite:${join(dir, 'bench.db')}`;
    const io = { stdout: sink(), stderr: sink(), env: {}, cwd: dir };

    let t = performance.now();
    await generate(input, DOCS);
    const bytes = statSync(input).size;
    row('documents', DOCS, 'docs');
    row('input size', Math.round(bytes / 1e6), 'MB');
    row('avg doc size', Math.round(bytes / DOCS), 'bytes');
    row('generate', Math.round(((performance.now() - t) / 1000) * 10) / 10, 's');

    t = performance.now();
    let code = await main(
      ['node', 'switchyard', '--store', store, '--quiet', 'import', 'bench', input],
      io,
    );
    if (code !== 0) throw new Error(`import exited with ${code}`);
    let s = (performance.now() - t) / 1000;
    row('import (validate + write)', Math.round(DOCS / s), 'docs/s');
    row('import time', Math.round(s * 10) / 10, 's');
    row('peak RSS after import', Math.round(rssMb()), 'MB');

    t = performance.now();
    code = await main(
      ['node', 'switchyard', '--store', store, '--quiet', 'export', 'bench', '--out', output],
      io,
    );
    if (code !== 0) throw new Error(`export exited with ${code}`);
    s = (performance.now() - t) / 1000;
    row('export', Math.round(DOCS / s), 'docs/s');
    row('export time', Math.round(s * 10) / 10, 's');
    if (statSync(output).size !== bytes)
      throw new Error('the export differs in size from the input');

    const peak = Math.round(rssMb());
    row('peak RSS', peak, 'MB');
    row(`peak RSS under ${RSS_TARGET_MB} MB`, peak < RSS_TARGET_MB ? 'yes' : 'NO', '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await run();
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}
