/**
 * Equality queries: SQLite answers in SQL exactly what a scan filtered in memory answers, for
 * any documents and filters (fast-check); bad filters are refused naming the field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Double, Long } from 'bson';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { query } from '../../src/store/query.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-query-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const scalar = fc.oneof(
  fc.constantFrom('a', 'b', '', 'Lyon', '1', 'true', 'null'),
  fc.constantFrom(0, 1, 2, -1, 1.5, 2.5),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom(new Long(1), new Double(2), new Date(0)) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('c', 'd'), scalar, { maxKeys: 2 }) },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 2 }) },
);
const doc = fc.dictionary(fc.constantFrom('a', 'b', 'x.y'), value, { maxKeys: 3 });
const filter = fc.dictionary(fc.constantFrom('a', 'b', 'b.c', 'b.d', 'a.c'), scalar, {
  minKeys: 0,
  maxKeys: 2,
});

let n = 0;
describe('query', () => {
  it('SQLite in SQL and a filtered scan agree on any documents and filters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(doc, { maxLength: 12 }), filter, async (docs, f) => {
        const file = path.join(dir, `q${n++}.db`);
        const sqlite = new SqliteStore(file, `sqlite:${file}`);
        const memory = new MemoryStore();
        try {
          const ops = docs.map((d, i) => ({
            type: 'put' as const,
            key: `k${i}`,
            doc: { _id: `k${i}`, ...d } as Doc,
          }));
          await sqlite.collection('c').write(ops);
          await memory.collection('c').write(ops);
          const inSql = (await query(sqlite.collection('c'), f)).map((s) => s.key);
          const scanned = (await query(memory.collection('c'), f)).map((s) => s.key);
          expect(inSql).toEqual(scanned);
        } finally {
          await sqlite.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('finds by nested fields, types included, and keeps to the limit', async () => {
    const file = path.join(dir, 'fixed.db');
    const s = new SqliteStore(file, `sqlite:${file}`);
    const c = s.collection('users');
    await c.write([
      { type: 'put', key: 'u1', doc: { _id: 'u1', city: { name: 'Lyon' }, n: 1, ok: true } },
      { type: 'put', key: 'u2', doc: { _id: 'u2', city: { name: 'Lyon' }, n: '1', ok: 1 } },
      { type: 'put', key: 'u3', doc: { _id: 'u3', city: { name: 'Nice' }, n: new Long(1) } },
    ]);
    expect((await query(c, { 'city.name': 'Lyon' })).map((d) => d.key)).toEqual(['u1', 'u2']);
    expect((await query(c, { n: 1 })).map((d) => d.key)).toEqual(['u1']);
    expect((await query(c, { ok: true })).map((d) => d.key)).toEqual(['u1']);
    expect((await query(c, { 'city.name': 'Lyon' }, 1)).map((d) => d.key)).toEqual(['u1']);
    expect(await query(s.collection('nothing'), { a: 1 })).toEqual([]);
    await expect(query(c, { 'items[].x': 1 })).rejects.toThrow(InputError);
    await expect(query(c, { a: { b: 1 } } as never)).rejects.toThrow(/filter.a/);
    await s.close();
  });
});
