import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalString, parseEJSON } from '../../src/core/values.js';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function store(): string {
  return `sqlite:${join(dir, `s${n++}.db`)}`;
}
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

const CANONICAL = [
  '{"_id":{"$oid":"5ca4bbcea2dd94ee58162a69"},"name":"b","n":{"$numberInt":"2"},"price":{"$numberDecimal":"21.95"}}',
  '{"_id":{"$oid":"5ca4bbcea2dd94ee58162a68"},"name":"a","d":{"$date":{"$numberLong":"226117231000"}},"x":{"$numberDouble":"1.0"},"big":{"$numberLong":"9007199254740993"}}',
  '{"_id":{"$oid":"5ca4bbcea2dd94ee58162a6a"},"name":"c","nested":{"a":[{"$numberInt":"1"},{"b":{"$binary":{"base64":"AQID","subType":"00"}}}]}}',
];

describe('switchyard import / export', () => {
  it('imports canonical NDJSON and exports it back in key order, value for value', async () => {
    const s = store();
    const input = file('canonical.ndjson', CANONICAL.join('\n') + '\n');
    const imp = await runCli(['--store', s, 'import', 'users', input]);
    expect(imp).toMatchObject({ code: 0, stderr: '' });
    expect(imp.stdout).toContain('imported 3 documents into users');
    const exp = await runCli(['--store', s, 'export', 'users']);
    expect(exp.code).toBe(0);
    const out = lines(exp.stdout);
    // ordered by key: ...a68, ...a69, ...a6a
    expect(out).toEqual([CANONICAL[1], CANONICAL[0], CANONICAL[2]]);
  });

  it('round-trips relaxed Extended JSON to canonical', async () => {
    const s = store();
    const input = file(
      'relaxed.ndjson',
      [
        '{"_id":"k1","released":{"$date":"1903-12-01T00:00:00.000Z"},"n":3,"f":1.5,"rating":""}',
        '{"_id":"k2","when":{"$date":{"$numberLong":"-2208988800000"}},"bin":{"$binary":"AQID","$type":"00"}}',
      ].join('\n'),
    );
    expect((await runCli(['--store', s, 'import', 'm', input])).code).toBe(0);
    const out = lines((await runCli(['--store', s, 'export', 'm'])).stdout);
    expect(out).toEqual([
      '{"_id":"k1","released":{"$date":{"$numberLong":"-2085523200000"}},"n":{"$numberInt":"3"},"f":{"$numberDouble":"1.5"},"rating":""}',
      '{"_id":"k2","when":{"$date":{"$numberLong":"-2208988800000"}},"bin":{"$binary":{"base64":"AQID","subType":"00"}}}',
    ]);
  });

  it('imports one-line and pretty-printed JSON arrays', async () => {
    const s = store();
    const docs = CANONICAL.map((l) => JSON.parse(l) as unknown);
    const oneLine = file('one-line.json', JSON.stringify(docs));
    const pretty = file('pretty.json', JSON.stringify(docs, null, 2));
    expect((await runCli(['--store', s, 'import', 'one', oneLine])).code).toBe(0);
    expect((await runCli(['--store', s, 'import', 'pretty', pretty])).code).toBe(0);
    const a = (await runCli(['--store', s, 'export', 'one'])).stdout;
    const b = (await runCli(['--store', s, 'export', 'pretty'])).stdout;
    expect(lines(a)).toHaveLength(3);
    expect(a).toBe(b);
  });

  it('stops at a malformed line before writing anything (exit 2, names the line)', async () => {
    const s = store();
    const input = file(
      'bad.ndjson',
      `${CANONICAL[0]}\n${CANONICAL[1]}\n{"_id": "x", oops\n${CANONICAL[2]}\n`,
    );
    const res = await runCli(['--store', s, 'import', 'users', input, '--batch-size', '1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: .*bad\.ndjson:3: malformed Extended JSON/);
    expect(res.stderr).not.toContain('    at ');
    expect((await runCli(['--store', s, 'count', 'users'])).stdout.trim()).toBe('0');
  });

  it('stops at a document without the key, naming line and field', async () => {
    const s = store();
    const input = file('nokey.json', '[\n  {"_id": 1},\n  {"other": 2}\n]');
    const res = await runCli(['--store', s, 'import', 'users', input]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("nokey.json:3, field '_id'");
    expect((await runCli(['--store', s, 'count', 'users'])).stdout.trim()).toBe('0');
    // with --key it is fine
    const ok = await runCli([
      '--store',
      s,
      'import',
      'users',
      input,
      '--key',
      '_id',
      '--skip-invalid',
      '--json',
    ]);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      imported: 1,
      skippedCount: 1,
      skipped: [{ line: 3 }],
    });
  });

  it('--skip-invalid imports the rest and lists what it skipped', async () => {
    const s = store();
    const input = file(
      'mixed.ndjson',
      `${CANONICAL[0]}\nnot json\n[1]\n{"no_id": true}\n${CANONICAL[1]}\n{"_id":{"$oid":"zz"}}\n`,
    );
    const text = await runCli(['--store', s, 'import', 'users', input, '--skip-invalid']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('imported 2 documents into users');
    expect(text.stdout).toContain('skipped 4');
    for (const line of [2, 3, 4, 6]) expect(text.stdout).toContain(`skipped line ${line}:`);
    const json = await runCli(['--store', s, 'import', 'again', input, '--skip-invalid', '--json']);
    const summary = JSON.parse(json.stdout) as {
      imported: number;
      skipped: { line: number; reason: string }[];
    };
    expect(summary.imported).toBe(2);
    expect(summary.skipped.map((x) => x.line)).toEqual([2, 3, 4, 6]);
    expect(summary.skipped[1]!.reason).toContain('not a document');
    expect(summary.skipped[2]!.reason).toContain("field '_id'");
    expect((await runCli(['--store', s, 'count', 'users'])).stdout.trim()).toBe('2');
  });

  it('uses --key and overwrites on re-import', async () => {
    const s = store();
    const input = file(
      'keyed.ndjson',
      '{"email":"b@x","v":1}\n{"email":"a@x","v":2}\n{"email":"b@x","v":3}\n',
    );
    const res = await runCli([
      '--store',
      s,
      'import',
      'people',
      input,
      '--key',
      'email',
      '--batch-size',
      '2',
    ]);
    expect(res.code).toBe(0);
    // three records, one key twice: two documents, and the summary says why
    expect(res.stdout).toMatch(/^imported 2 documents into people from /);
    expect(res.stdout).toContain(
      'keyed.ndjson; 3 records, 1 of them repeating the key (email) of an earlier one: the later record is kept (',
    );
    expect(res.stdout).toContain('  key "b@x" on lines 1, 3: line 3 kept');
    await runCli(['--store', s, 'import', 'people', input, '--key', 'email']);
    const out = lines((await runCli(['--store', s, 'export', 'people'])).stdout);
    expect(out.map((l) => canonicalString(parseEJSON(l)))).toEqual([
      '{"email":"a@x","v":{"$numberInt":"2"}}',
      '{"email":"b@x","v":{"$numberInt":"3"}}',
    ]);
  });

  it('exports to a file with --out and prints a JSON summary', async () => {
    const s = store();
    await runCli(['--store', s, 'import', 'users', file('o.ndjson', CANONICAL.join('\n'))]);
    const out = join(dir, 'out.ndjson');
    const res = await runCli(['--store', s, '--json', 'export', 'users', '--out', out]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ collection: 'users', exported: 3 });
    expect(lines(readFileSync(out, 'utf8'))).toHaveLength(3);
  });

  it('reads the file and --out relative to the working directory', async () => {
    const s = store();
    file('rel.ndjson', CANONICAL[0]!);
    const res = await runCli(['--store', s, 'import', 'r', 'rel.ndjson'], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('from rel.ndjson');
    expect(
      (await runCli(['--store', s, 'export', 'r', '--out', 'rel.out.ndjson'], { cwd: dir })).code,
    ).toBe(0);
    expect(readFileSync(join(dir, 'rel.out.ndjson'), 'utf8')).toBe(`${CANONICAL[0]}\n`);
  });

  it('names a missing file (exit 2)', async () => {
    const res = await runCli(['--store', store(), 'import', 'users', join(dir, 'nope.ndjson')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('nope.ndjson: cannot read the file');
  });

  it('refuses to import into a reserved collection', async () => {
    const res = await runCli([
      '--store',
      store(),
      'import',
      '_sy_catalog',
      file('r.ndjson', CANONICAL[0]!),
    ]);
    expect(res.code).toBe(2);
  });
});
