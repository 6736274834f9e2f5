/**
 * Every real dataset in ../shared/datasets (MongoDB's sample datasets: NDJSON and JSON arrays,
 * canonical and relaxed Extended JSON) goes through `switchyard import` into an SQLite file and
 * back out through `switchyard export`, and every document comes back equal, in canonical
 * Extended JSON, to the one in the file.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyOfDoc } from '../src/core/keys.js';
import { canonicalString } from '../src/core/values.js';
import { readDocuments } from '../src/io/read-documents.js';
import { runCli } from './cli/run-cli.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const datasetsDir = resolve(repoRoot, '../shared/datasets');
const present = existsSync(datasetsDir);

function datasetFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...datasetFiles(p));
    else if (name.endsWith('.json') && !name.endsWith('.metadata.json')) out.push(p);
  }
  return out;
}

describe.skipIf(!present)(
  `datasets round-trip${present ? '' : ` (skipped: ${datasetsDir} is absent)`}`,
  () => {
    const files = present ? datasetFiles(datasetsDir) : [];
    const tmp = mkdtempSync(join(tmpdir(), 'sy-datasets-'));
    const store = `sqlite:${join(tmp, 'datasets.db')}`;
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('finds the datasets', () => {
      expect(files.length).toBeGreaterThanOrEqual(10);
    });

    it.each(files.map((f) => [relative(datasetsDir, f), f]))(
      '%s imports and exports losslessly',
      async (name, file) => {
        const collection = name.replace(/\.json$/, '').replace(/[^A-Za-z0-9_]/g, '_');
        const imp = await runCli(['--store', store, '--json', 'import', collection, file]);
        expect(imp.stderr).toBe('');
        expect(imp.code).toBe(0);

        // what the file holds, by key (a key given twice keeps the later document, as import does)
        const expected = new Map<string, string>();
        let read = 0;
        for await (const { doc } of readDocuments(file)) {
          expected.set(keyOfDoc(doc), canonicalString(doc));
          read++;
        }
        expect(JSON.parse(imp.stdout)).toMatchObject({ imported: read, skippedCount: 0 });

        const out = join(tmp, `${collection}.ndjson`);
        const exp = await runCli(['--store', store, 'export', collection, '--out', out, '-q']);
        expect(exp.code).toBe(0);
        let exported = 0;
        let previousKey: string | undefined;
        for await (const { doc, line } of readDocuments(out)) {
          const key = keyOfDoc(doc);
          if (previousKey !== undefined)
            expect(key > previousKey, `line ${line}: key order`).toBe(true);
          previousKey = key;
          const want = expected.get(key);
          if (want !== canonicalString(doc))
            expect(canonicalString(doc), `${name} key ${key}`).toBe(want);
          exported++;
        }
        expect(exported).toBe(expected.size);
      },
    );
  },
);
