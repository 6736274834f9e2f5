/**
 * An import whose writes start failing part-way (a full disk, injected: the store answers
 * ENOSPC from the Nth batch on) stops with ImportIncompleteError: how many documents were
 * imported, that they stay, and the line to go on from; the same import from that line finishes
 * the job, and the collection then equals the file. (A real 4 MiB file system:
 * test/cli/import-disk-full.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { importDocuments, ImportIncompleteError } from '../../src/io/import-documents.js';
import type { Collection, WriteOp } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { tempDir } from '../engine/backfill-fixtures.js';
import { wrapCollection } from '../support/wrap-collection.js';

/** `inner`, whose writes fail with ENOSPC from the `failFrom`-th call on (until `room()`) */
function fillingUp(inner: Collection, failFrom: number): Collection & { room(): void } {
  let calls = 0;
  let full = true;
  return {
    ...wrapCollection(inner, {
      async write(ops: readonly WriteOp[]) {
        if (full && ++calls >= failFrom)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
          });
        return inner.write(ops);
      },
    }),
    room: () => {
      full = false;
    },
  };
}

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-import-resume-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const doc = (i: number) => ({ _id: `k${String(i).padStart(4, '0')}`, n: i });

describe('an import that stops part-way', () => {
  it('NDJSON: says how many were imported and the line to go on from; --from-line finishes it', async () => {
    const file = path.join(dir, 'docs.ndjson');
    // a blank line in the middle: line numbers are not record numbers
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify(doc(i)));
    lines.splice(500, 0, '');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const store = new MemoryStore();
    const c = fillingUp(store.collection('docs'), 4);
    const err = await importDocuments(c, file, { batchSize: 100, fileName: 'docs.ndjson' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImportIncompleteError);
    const e = err as ImportIncompleteError;
    expect(e.exitCode).toBe(ExitCode.runtime);
    expect([e.imported, e.total, e.resumeLine]).toEqual([300, 1000, 301]);
    expect(e.message).toBe(
      "docs.ndjson: the import stopped at line 301: writing to 'docs' failed: ENOSPC: no space left on device, write. 300 of 1000 documents were imported (up to line 300) and stay in 'docs'; nothing after line 300 was written. To go on where it stopped, run the same import with --from-line 301 (running it again whole is also safe: documents already imported are written again, harmlessly).",
    );
    expect(await store.collection('docs').count()).toBe(300);

    c.room();
    const done = await importDocuments(c, file, { batchSize: 100, fromLine: e.resumeLine! });
    expect(done.imported).toBe(700);
    expect(done.fromLine).toBe(301);
    const all = await store
      .collection('docs')
      .getMany(lines.filter(Boolean).map((_, i) => doc(i)._id));
    expect(all.map((s) => s?.doc)).toEqual(Array.from({ length: 1000 }, (_, i) => doc(i)));
  });

  it('the line counts lines, not records: after a blank line the resume line is the next record', async () => {
    const file = path.join(dir, 'gaps.ndjson');
    fs.writeFileSync(
      file,
      ['', JSON.stringify(doc(0)), '', '', JSON.stringify(doc(1)), JSON.stringify(doc(2))].join(
        '\n',
      ),
    );
    const store = new MemoryStore();
    const err = (await importDocuments(fillingUp(store.collection('docs'), 2), file, {
      batchSize: 1,
    }).catch((e: unknown) => e)) as ImportIncompleteError;
    expect([err.imported, err.resumeLine]).toEqual([1, 5]);
    // a bad record before the line to go on from is not looked at again
    const withBad = path.join(dir, 'bad-first.ndjson');
    fs.writeFileSync(withBad, ['{not json', JSON.stringify(doc(7))].join('\n'));
    const s = await importDocuments(store.collection('docs'), withBad, { fromLine: 2 });
    expect(s.imported).toBe(1);
  });

  it('a one-line JSON array: its records share a line, so the error says to run it again whole', async () => {
    const file = path.join(dir, 'docs.json');
    fs.writeFileSync(file, JSON.stringify(Array.from({ length: 50 }, (_, i) => doc(i))));
    const store = new MemoryStore();
    const c = fillingUp(store.collection('docs'), 3);
    const err = (await importDocuments(c, file, { batchSize: 10 }).catch(
      (e: unknown) => e,
    )) as ImportIncompleteError;
    expect([err.imported, err.resumeLine]).toEqual([20, null]);
    expect(err.message).toMatch(/run the same import again .*cannot skip them/);
    c.room();
    expect((await importDocuments(c, file, { batchSize: 10 })).imported).toBe(50);
    expect(await store.collection('docs').count()).toBe(50);
  });
});
