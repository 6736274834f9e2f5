/**
 * The behavioural checks every store adapter must pass. Each check opens a fresh store through
 * a harness and throws (vitest `expect`) when the adapter misbehaves. They are plain functions,
 * not `it` blocks, so the suite can also be run against a deliberately broken adapter to show
 * that it catches the breakage (see rev-ignoring.test.ts).
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { Binary, Decimal128, Double, Long, ObjectId, Timestamp } from 'bson';
import { canonicalString, compareKeys, type Doc, type Value } from '../../src/core/values.js';
import type { Collection, Store, StoredDoc } from '../../src/store/contract.js';
import type { StoreHarness } from './store-harness.js';
import { DocumentTooLargeError } from '../../src/store/store-errors.js';
import { arbDoc } from '../support/arb-values.js';

export interface Check {
  readonly name: string;
  /** conditional-write checks: these must catch an adapter that ignores revs */
  readonly conditional?: boolean;
  run(h: StoreHarness): Promise<void>;
}

async function withStore(h: StoreHarness, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await h.open();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function putAll(c: Collection, docs: Record<string, Doc>): Promise<void> {
  const results = await c.write(
    Object.entries(docs).map(([key, doc]) => ({ type: 'put' as const, key, doc })),
  );
  expect(results.every((r) => r.ok)).toBe(true);
}

async function scanAll(
  c: Collection,
  limit: number,
  between?: (page: number) => Promise<void>,
): Promise<StoredDoc[]> {
  const out: StoredDoc[] = [];
  let cursor: string | null = null;
  let page = 0;
  do {
    const res = await c.scan({ cursor, limit });
    expect(res.items.length).toBeLessThanOrEqual(limit);
    out.push(...res.items);
    cursor = res.cursor;
    page += 1;
    if (between) await between(page);
  } while (cursor !== null);
  return out;
}

const keys = (n: number, prefix = 'k'): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

export const EVERY_TYPE: Doc = {
  _id: new ObjectId('5ca4bbcea2dd94ee58162a68') as unknown as Value,
  str: 'héllo wörld ✓ 😀',
  int: 42,
  negInt: -2147483648,
  double: 3.14159,
  integralDouble: new Double(1) as unknown as Value,
  negZero: new Double(-0) as unknown as Value,
  nan: NaN,
  inf: -Infinity,
  bigDouble: 3e20,
  long: Long.fromString('9223372036854775807') as unknown as Value,
  decimal: Decimal128.fromString('1234567890.0987654321') as unknown as Value,
  date: new Date('2019-03-04T05:06:07.089Z'),
  oldDate: new Date(-62135596800000),
  binary: new Binary(Buffer.from([0, 1, 2, 250, 255]), 0) as unknown as Value,
  uuid: new Binary(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), 4) as unknown as Value,
  ts: new Timestamp({ t: 1565545664, i: 1 }) as unknown as Value,
  bool: true,
  nul: null,
  nested: { a: { b: { c: [1, [2, [3, { d: 'deep' }]]] } }, empty: {} },
  arr: [],
  'dotted.key': 'ok',
  ключ: 'значение',
  名前: '値',
  $dollar: 'not an EJSON wrapper',
};

export const CHECKS: Check[] = [
  {
    name: 'put, get, update and delete one document',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('crud');
        expect(await c.get('a')).toBeNull();
        const [w] = await c.write([{ type: 'put', key: 'a', doc: { _id: 'a', n: 1 } }]);
        expect(w).toMatchObject({ key: 'a', ok: true });
        const got = await c.get('a');
        expect(got?.doc).toEqual({ _id: 'a', n: 1 });
        expect(typeof got?.rev).toBe('string');
        await c.write([{ type: 'put', key: 'a', doc: { _id: 'a', n: 2 } }]);
        const got2 = await c.get('a');
        expect(got2?.doc).toEqual({ _id: 'a', n: 2 });
        expect(got2?.rev).not.toBe(got?.rev);
        const [d] = await c.write([{ type: 'delete', key: 'a' }]);
        expect(d?.ok).toBe(true);
        expect(await c.get('a')).toBeNull();
        const [d2] = await c.write([{ type: 'delete', key: 'never' }]);
        expect(d2?.ok).toBe(true);
      });
    },
  },
  {
    name: 'getMany returns one entry per key in order, null where absent',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('many');
        const ks = keys(1200);
        await putAll(c, Object.fromEntries(ks.map((k, i) => [k, { i }])));
        const ask = ['missing', ...ks.slice().reverse(), 'k00003', 'also-missing'];
        const got = await c.getMany(ask);
        expect(got).toHaveLength(ask.length);
        expect(got[0]).toBeNull();
        expect(got[1]?.key).toBe('k01199');
        expect(got[1]?.doc).toEqual({ i: 1199 });
        expect(got[ask.length - 2]?.doc).toEqual({ i: 3 });
        expect(got[ask.length - 1]).toBeNull();
        expect(await c.getMany([])).toEqual([]);
      });
    },
  },
  {
    name: 'a write conditional on the current rev succeeds and gives a new rev',
    conditional: true,
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('cond');
        await putAll(c, { a: { v: 1 } });
        const before = (await c.get('a'))!;
        const [r] = await c.write([{ type: 'put', key: 'a', doc: { v: 2 }, ifRev: before.rev }]);
        expect(r?.ok).toBe(true);
        const after = (await c.get('a'))!;
        expect(after.doc).toEqual({ v: 2 });
        expect(after.rev).not.toBe(before.rev);
        if (r?.ok) expect(r.rev).toBe(after.rev);
      });
    },
  },
  {
    name: 'a write conditional on a stale rev conflicts and changes nothing',
    conditional: true,
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('cond');
        await putAll(c, { a: { v: 1 } });
        const stale = (await c.get('a'))!;
        await c.write([{ type: 'put', key: 'a', doc: { v: 2 } }]);
        const current = (await c.get('a'))!;
        const [r] = await c.write([{ type: 'put', key: 'a', doc: { v: 99 }, ifRev: stale.rev }]);
        expect(r).toEqual({ key: 'a', ok: false, reason: 'conflict', currentRev: current.rev });
        expect((await c.get('a'))!.doc).toEqual({ v: 2 });
        const [d] = await c.write([{ type: 'delete', key: 'a', ifRev: stale.rev }]);
        expect(d?.ok).toBe(false);
        expect((await c.get('a'))!.doc).toEqual({ v: 2 });
      });
    },
  },
  {
    name: 'must-be-absent writes: succeed when absent, conflict when present',
    conditional: true,
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('absent');
        const [r1] = await c.write([{ type: 'put', key: 'a', doc: { v: 1 }, ifRev: null }]);
        expect(r1?.ok).toBe(true);
        const [r2] = await c.write([{ type: 'put', key: 'a', doc: { v: 2 }, ifRev: null }]);
        expect(r2).toMatchObject({ ok: false, reason: 'conflict' });
        if (r2 && !r2.ok) expect(r2.currentRev).toBe((await c.get('a'))!.rev);
        expect((await c.get('a'))!.doc).toEqual({ v: 1 });
        // a rev-conditional write on an absent key conflicts with currentRev null
        const [r3] = await c.write([
          { type: 'put', key: 'gone', doc: { v: 1 }, ifRev: 'some-rev' },
        ]);
        expect(r3).toEqual({ key: 'gone', ok: false, reason: 'conflict', currentRev: null });
        expect(await c.get('gone')).toBeNull();
      });
    },
  },
  {
    name: 'a batch where only some ops conflict applies the others',
    conditional: true,
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('mixed');
        await putAll(c, { a: { v: 1 }, b: { v: 1 }, c: { v: 1 }, d: { v: 1 } });
        const revs = Object.fromEntries(
          (await c.getMany(['a', 'b', 'c', 'd'])).map((s) => [s!.key, s!.rev]),
        );
        await c.write([{ type: 'put', key: 'b', doc: { v: 'app' } }]); // b changes behind our back
        const results = await c.write([
          { type: 'put', key: 'a', doc: { v: 2 }, ifRev: revs.a },
          { type: 'put', key: 'b', doc: { v: 2 }, ifRev: revs.b },
          { type: 'put', key: 'c', doc: { v: 2 }, ifRev: null },
          { type: 'put', key: 'e', doc: { v: 2 }, ifRev: null },
          { type: 'delete', key: 'd', ifRev: revs.d },
        ]);
        expect(results.map((r) => [r.key, r.ok])).toEqual([
          ['a', true],
          ['b', false],
          ['c', false],
          ['e', true],
          ['d', true],
        ]);
        const docs = Object.fromEntries((await scanAll(c, 10)).map((s) => [s.key, s.doc]));
        expect(docs).toEqual({ a: { v: 2 }, b: { v: 'app' }, c: { v: 1 }, e: { v: 2 } });
      });
    },
  },
  {
    name: 'the rev changes when a foreign writer changes the document, and stale writes then conflict',
    conditional: true,
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('foreign');
        await putAll(c, { a: { v: 1 } });
        const read = (await c.get('a'))!;
        await h.foreignWrite(store, 'foreign', 'a', { v: 'changed by the application' });
        const now = (await c.get('a'))!;
        expect(now.doc).toEqual({ v: 'changed by the application' });
        expect(now.rev).not.toBe(read.rev);
        const [r] = await c.write([
          { type: 'put', key: 'a', doc: { v: 'stale transform' }, ifRev: read.rev },
        ]);
        expect(r?.ok).toBe(false);
        expect((await c.get('a'))!.doc).toEqual({ v: 'changed by the application' });
        // a document created by a foreign writer is readable, has a rev, and takes conditional writes
        await h.foreignWrite(store, 'foreign', 'b', { v: 'new' });
        const b = (await c.get('b'))!;
        expect(b.rev).toBeTruthy();
        const [r2] = await c.write([{ type: 'put', key: 'b', doc: { v: 'ok' }, ifRev: b.rev }]);
        expect(r2?.ok).toBe(true);
      });
    },
  },
  {
    name: 'scan pages return every document exactly once (in key order where ordered)',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('scan');
        const ks = keys(2503);
        await putAll(c, Object.fromEntries(ks.map((k) => [k, { k }])));
        for (const limit of [1, 7, 1000, 5000]) {
          const seen = await scanAll(c, limit);
          expect(seen.map((s) => s.key).sort()).toEqual(ks);
          if (c.capabilities.orderedScan)
            expect(seen.map((s) => s.key)).toEqual([...ks].sort(compareKeys));
        }
        expect(await scanAll(store.collection('empty-never-written'), 10)).toEqual([]);
      });
    },
  },
  {
    name: 'scan while documents are inserted and deleted: every document present throughout is seen exactly once',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('churn');
        const stable = keys(1500, 's');
        const doomed = keys(300, 'd');
        await putAll(c, Object.fromEntries([...stable, ...doomed].map((k) => [k, { k }])));
        let inserted = 0;
        const seen = await scanAll(c, 50, async (page) => {
          // between pages: delete some doomed keys, insert new keys before and after the cursor
          const ops = [
            ...doomed
              .slice(page * 10, page * 10 + 10)
              .map((key) => ({ type: 'delete' as const, key })),
            ...[`a-new${page}`, `s00000-new${page}`, `z-new${page}`].map((key) => ({
              type: 'put' as const,
              key,
              doc: { key },
            })),
          ];
          inserted += 3;
          await c.write(ops);
        });
        const seenKeys = seen.map((s) => s.key);
        expect(new Set(seenKeys).size).toBe(seenKeys.length); // nothing twice
        for (const k of stable) expect(seenKeys).toContain(k);
        expect(inserted).toBeGreaterThan(0);
      });
    },
  },
  {
    name: 'split(n) gives disjoint ranges that cover the keyspace, also keys written later',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('split');
        const ks = keys(997);
        await putAll(c, Object.fromEntries(ks.map((k) => [k, { k }])));
        for (const n of [1, 2, 3, 8, 16]) {
          const ranges = await c.split(n);
          expect(ranges.length).toBeGreaterThanOrEqual(1);
          expect(ranges.length).toBeLessThanOrEqual(Math.max(n, 1));
          expect(new Set(ranges.map((r) => r.id)).size).toBe(ranges.length);
          // ranges survive a JSON round trip (they are saved in checkpoints)
          const saved = JSON.parse(JSON.stringify(ranges)) as typeof ranges;
          await c.write(
            ['', 'a', 'k00500x', 'zzz', '\u{10FFFF}'].map((key) => ({
              type: 'put' as const,
              key,
              doc: { late: true },
            })),
          );
          const all: string[] = [];
          let counted = 0;
          for (const range of saved) {
            let cursor: string | null = null;
            do {
              const page = await c.scan({ range, cursor, limit: 100 });
              all.push(...page.items.map((s) => s.key));
              cursor = page.cursor;
            } while (cursor !== null);
            counted += await c.count(range);
          }
          const total = await c.count();
          expect(all.length).toBe(total);
          expect(new Set(all).size).toBe(total);
          expect(counted).toBe(total);
          await c.write(
            ['', 'a', 'k00500x', 'zzz', '\u{10FFFF}'].map((key) => ({
              type: 'delete' as const,
              key,
            })),
          );
        }
        if (c.capabilities.orderedScan) {
          const eight = await c.split(8);
          expect(eight.length).toBe(8); // evenly spread over 997 keys
        }
      });
    },
  },
  {
    name: 'every Extended JSON type round-trips exactly',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('types');
        await putAll(c, { t: EVERY_TYPE });
        const got = (await c.get('t'))!.doc;
        expect(canonicalString(got)).toBe(canonicalString(EVERY_TYPE));
        const scanned = (await c.scan({ limit: 10 })).items[0]!.doc;
        expect(canonicalString(scanned)).toBe(canonicalString(EVERY_TYPE));
        // key order of the document is kept (where the store keeps it: Store.keepsFieldOrder)
        if (store.keepsFieldOrder !== false)
          expect(Object.keys(got)).toEqual(Object.keys(EVERY_TYPE));
      });
    },
  },
  {
    name: 'generated documents round-trip exactly (property)',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('prop');
        let i = 0;
        await fc.assert(
          fc.asyncProperty(arbDoc, async (doc) => {
            const key = `p${i++}`;
            await c.write([{ type: 'put', key, doc }]);
            const got = (await c.get(key))!.doc;
            expect(canonicalString(got)).toBe(canonicalString(doc));
          }),
          { numRuns: 150 },
        );
      });
    },
  },
  {
    name: 'unicode keys, dotted field names and odd collection names work',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('odd "name".with-dots');
        const ks = [
          'ключ',
          '名前',
          '😀',
          'a.b.c',
          'with space',
          'quote"d',
          "it's",
          'e\u0301',
          'ｆｕｌｌ',
        ];
        await putAll(c, Object.fromEntries(ks.map((k) => [k, { 'a.b': k, [k]: 1 }])));
        for (const k of ks) expect((await c.get(k))?.doc).toEqual({ 'a.b': k, [k]: 1 });
        const scanned = (await scanAll(c, 3)).map((s) => s.key);
        expect([...scanned].sort()).toEqual([...ks].sort());
        expect(await store.listCollections()).toContain('odd "name".with-dots');
      });
    },
  },
  {
    name: 'large documents: 1 MB round-trips, or a store with a smaller limit refuses it whole',
    async run(h) {
      await withStore(h, async (store) => {
        const c = store.collection('large');
        const doc: Doc = {
          blob: 'x'.repeat(1024 * 1024),
          items: Array.from({ length: 2000 }, (_, i) => ({ i, s: `item ${i}` })),
        };
        // adapters with a size limit say so (DynamoDB 400 KB, MongoDB 16 MB)
        const max = (store as { maxDocumentBytes?: number }).maxDocumentBytes;
        if (max === undefined || max > 1024 * 1024 + 100_000) {
          await putAll(c, { big: doc });
          expect(canonicalString((await c.get('big'))!.doc)).toBe(canonicalString(doc));
          return;
        }
        // over the store's limit: a clear error naming the key, and nothing of the batch written
        const err = await c
          .write([
            { type: 'put', key: 'small', doc: { v: 1 } },
            { type: 'put', key: 'big', doc },
          ])
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DocumentTooLargeError);
        expect((err as DocumentTooLargeError).key).toBe('big');
        expect(await c.getMany(['small', 'big'])).toEqual([null, null]);
        // the largest document under the limit round-trips
        const fits: Doc = { blob: 'x'.repeat(max - 10 * 1024) };
        await putAll(c, { fits });
        expect(canonicalString((await c.get('fits'))!.doc)).toBe(canonicalString(fits));
      });
    },
  },
  {
    name: 'count, listCollections and dropCollection',
    async run(h) {
      await withStore(h, async (store) => {
        expect(await store.collection('nothing').count()).toBe(0);
        const c = store.collection('counted');
        await putAll(c, Object.fromEntries(keys(321).map((k) => [k, {}])));
        expect(await c.count()).toBe(321);
        await c.write([{ type: 'delete', key: 'k00000' }]);
        expect(await c.count()).toBe(320);
        await putAll(store.collection('_sy_internal'), { x: {} });
        expect(await store.listCollections()).toEqual(['counted']);
        expect(await store.listCollections({ includeReserved: true })).toEqual([
          '_sy_internal',
          'counted',
        ]);
        await store.dropCollection('counted');
        expect(await store.listCollections()).toEqual([]);
        expect(await store.collection('counted').count()).toBe(0);
        await putAll(store.collection('counted'), { again: {} });
        expect(await store.collection('counted').count()).toBe(1);
      });
    },
  },
];
