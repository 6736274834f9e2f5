/**
 * MongoDB adapter behaviour beyond the conformance suite.
 *
 * The first part runs everywhere, without a server: the pure functions the adapter is built
 * from (BSON <-> value conversion with the exact options the adapter decodes with, the stored
 * layout, key <-> `_id` mapping, cursors, the `_id` interval filters, checked against an
 * emulation of MongoDB's type-bracketed comparisons, the conditional-write filter, URL parsing
 * and redaction, a fast redacted failure when nothing answers).
 *
 * The second part needs a MongoDB server (MONGODB_URL) and is skipped, with that reason in its
 * title, when there is none — as on the machine this adapter was written on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Binary,
  BSON,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
} from 'bson';
import { MongoClient } from 'mongodb';
import { StoreError, StoreUrlError } from '../../src/core/errors.js';
import { keyOf } from '../../src/core/keys.js';
import { canonicalString, compareKeys, type Doc, type Value } from '../../src/core/values.js';
import {
  collectionNameOf,
  databaseOf,
  mongoCollectionName,
  MongoStore,
  withDatabase,
} from '../../src/store/mongodb/mongodb-adapter.js';
import {
  bsonTypeName,
  idIntervalFilter,
  rangeFilter,
  rangesFromIds,
  sameDocumentFilter,
  scanFilter,
  TYPE_CLASSES,
  typeClassOf,
  type IdBound,
} from '../../src/store/mongodb/mongodb-filters.js';
import {
  BSON_READ_OPTIONS,
  bsonFromText,
  bsonToText,
  bytesRev,
  deserialize,
  fromBsonBytes,
  idCandidates,
  keyOfBsonId,
  OWN_ID_FIELD,
  serialize,
  storedForm,
  toBson,
} from '../../src/store/mongodb/mongodb-values.js';
import { openStore } from '../../src/store/open-store.js';
import { DocumentTooLargeError } from '../../src/store/store-errors.js';
import { parseStoreUrl, redactSecrets, redactUrl } from '../../src/store/store-url.js';
import { EVERY_TYPE } from '../conformance/store-checks.js';
import { arbDoc } from '../support/arb-values.js';
import { mongodbUnavailable, mongodbUrl } from '../support/mongodb-server.js';

/** write as the adapter does (storedForm + serialize), read back as it does (fromBsonBytes) */
function roundTrip(key: string, doc: Doc) {
  const { stored } = storedForm(key, doc);
  return { stored, bytes: serialize(stored), ...fromBsonBytes(serialize(stored)) };
}

describe('mongodb values (bson package, the adapter decode options)', () => {
  it('decodes with promotion off: Int32, Double and Long stay what they are', () => {
    expect(BSON_READ_OPTIONS).toEqual({
      promoteValues: false,
      promoteLongs: false,
      promoteBuffers: false,
      bsonRegExp: true,
    });
    const bytes = serialize(
      toBson({
        i: 1,
        d: new Double(1) as unknown as Value,
        f: 1.5,
        big: 2 ** 40,
        negZero: new Double(-0) as unknown as Value,
        l: Long.fromNumber(1) as unknown as Value,
      }) as Doc,
    );
    const raw = BSON.deserialize(bytes, BSON_READ_OPTIONS);
    expect(raw.i).toBeInstanceOf(Int32);
    expect(raw.d).toBeInstanceOf(Double);
    expect(raw.f).toBeInstanceOf(Double);
    expect(raw.big).toBeInstanceOf(Double); // a JS integer beyond int32 is a double, never a long
    expect(Object.is((raw.negZero as Double).value, -0)).toBe(true);
    expect(raw.l).toBeInstanceOf(Long);
  });

  it('every Extended JSON type round-trips exactly, key order kept, _id first', () => {
    const { doc, key, stored } = roundTrip('t', EVERY_TYPE);
    expect(key).toBe('t');
    expect(canonicalString(doc)).toBe(canonicalString(EVERY_TYPE));
    expect(Object.keys(doc)).toEqual(Object.keys(EVERY_TYPE));
    // its _id is not the key 't': stored under the key, its own _id kept in _sy_id
    expect(Object.keys(stored).slice(0, 2)).toEqual(['_id', OWN_ID_FIELD]);
    expect(stored._id).toBe('t');
  });

  it('a document whose _id is its key is stored as itself', () => {
    const id = new ObjectId('5ca4bbcea2dd94ee58162a68');
    const doc: Doc = { _id: id as unknown as Value, n: 1, x: new Double(2) as unknown as Value };
    const { stored, key, doc: back } = roundTrip(id.toHexString(), doc);
    expect(Object.keys(stored)).toEqual(['_id', 'n', 'x']);
    expect(stored._id).toBe(id);
    expect(key).toBe('5ca4bbcea2dd94ee58162a68');
    expect(canonicalString(back)).toBe(canonicalString(doc));
    // numbers: the key of an int _id is its digits
    expect(roundTrip('7', { _id: 7, v: 'x' }).stored).toEqual({ _id: new Int32(7), v: 'x' });
  });

  it('a document without _id reads back without one; _id is moved first otherwise', () => {
    const { stored, doc } = roundTrip('a', { v: 1 });
    expect(stored).toEqual({ _id: 'a', [OWN_ID_FIELD]: [], v: new Int32(1) });
    expect(doc).toEqual({ v: 1 });
    const later = roundTrip('b', { v: 1, _id: 'not-b' });
    expect(later.doc).toEqual({ _id: 'not-b', v: 1 });
    expect(later.key).toBe('b');
  });

  it('a top-level _sy_id field is refused', () => {
    expect(() => storedForm('a', { [OWN_ID_FIELD]: 1 })).toThrow(StoreError);
  });

  it('generated documents round-trip exactly through BSON bytes (property)', () => {
    fc.assert(
      fc.property(arbDoc, fc.string(), (doc, key) => {
        const back = roundTrip(key, doc);
        expect(back.key).toBe(key);
        expect(canonicalString(back.doc)).toBe(canonicalString(doc));
        // stable: writing what was read gives the same bytes, hence the same rev
        expect(bytesRev(serialize(storedForm(key, back.doc).stored))).toBe(back.rev);
      }),
      { numRuns: 300 },
    );
  });

  it('rev is the hash of the bytes: a change of type or of field order is a new rev', () => {
    const rev = (d: Doc) => bytesRev(serialize(storedForm('k', d).stored));
    expect(rev({ a: 1, b: 2 })).toBe(rev({ a: 1, b: 2 }));
    expect(rev({ a: 1 })).not.toBe(rev({ a: new Double(1) as unknown as Value }));
    expect(rev({ a: 1 })).not.toBe(rev({ a: Long.fromNumber(1) as unknown as Value }));
    expect(rev({ a: 1, b: 2 })).not.toBe(rev({ b: 2, a: 1 }));
  });
});

/** `_id` values of many types (bson-typed, as read with promotion off). */
const IDS: unknown[] = [
  new MinKey(),
  null,
  new Double(-Infinity),
  new Int32(-5),
  new Double(2.5),
  new Int32(7),
  Long.fromString('9007199254740993'),
  Decimal128.fromString('1E+30'),
  '',
  '1',
  'k00001',
  'zzz',
  '\u{10FFFF}',
  { a: new Int32(1) },
  new Binary(Buffer.from([1, 2, 3]), 0),
  new ObjectId('5ca4bbcea2dd94ee58162a68'),
  new ObjectId('ffffffffffffffffffffffff'),
  false,
  true,
  new Date('2019-03-04T05:06:07.089Z'),
  new Timestamp({ t: 1, i: 1 }),
  new MaxKey(),
];

describe('mongodb keys and _id', () => {
  it('the key of a stored _id, and back: some candidate is that _id', () => {
    const numeric = (v: unknown) => ['int', 'long', 'double', 'decimal'].includes(bsonTypeName(v));
    const num = (v: unknown) => Number((v as { toString(): string }).toString());
    for (const id of IDS.filter((v) => !(v instanceof MinKey) && !(v instanceof MaxKey))) {
      const key = keyOfBsonId(id);
      const candidates = idCandidates(key);
      const hit = candidates.some((c) =>
        numeric(id) && numeric(c) ? num(c) === num(id) : bsonToText(c) === bsonToText(id),
      );
      expect(hit, `${key} from ${bsonToText(id)}`).toBe(true);
      expect(candidates[0]).toBe(key);
    }
  });

  it('lists only the string for plain keys, and typed forms for keys that look typed', () => {
    expect(idCandidates('user-42')).toEqual(['user-42']);
    expect(idCandidates('5ca4bbcea2dd94ee58162a68')).toEqual([
      '5ca4bbcea2dd94ee58162a68',
      new ObjectId('5ca4bbcea2dd94ee58162a68'),
    ]);
    expect(idCandidates('5CA4BBCEA2DD94EE58162A68')).toHaveLength(1); // keyOf gives lower case
    expect(idCandidates('42').map(bsonTypeName)).toEqual(['string', 'double', 'decimal']);
    expect(idCandidates('1.50').map(bsonTypeName)).toEqual(['string', 'decimal']);
    expect(idCandidates('2019-03-04T05:06:07.089Z')[1]).toEqual(
      new Date('2019-03-04T05:06:07.089Z'),
    );
    expect(idCandidates('null')).toEqual(['null', null]);
    // never an operator or a pattern inside $in
    expect(idCandidates('{"$regex":".*"}')).toEqual(['{"$regex":".*"}']);
    expect(idCandidates('{"$gt":""}')).toEqual(['{"$gt":""}']);
    expect(keyOfBsonId(null)).toBe('null');
  });

  it('ambiguous keys: the string "1" and the number 1 share a key', () => {
    expect(keyOfBsonId('1')).toBe(keyOfBsonId(new Int32(1)));
    expect(keyOfBsonId(new Double(1))).toBe('1');
    expect(keyOf(new ObjectId('5ca4bbcea2dd94ee58162a68') as unknown as Value)).toBe(
      '5ca4bbcea2dd94ee58162a68',
    );
  });

  it('collection names MongoDB cannot hold are escaped, reversibly', () => {
    for (const name of ['users', 'odd "name".with-dots', '_sy_internal', 'ключ']) {
      expect(mongoCollectionName(name)).toBe(name);
    }
    for (const name of ['', 'a$b', 'nul\u0000l', 'system.users', '__sy.x']) {
      const m = mongoCollectionName(name);
      expect(m).toMatch(/^__sy\.[A-Za-z0-9_-]*$/);
      expect(collectionNameOf(m)).toBe(name);
    }
    expect(collectionNameOf('__sy.not base64 of an escaped name')).toBe(
      '__sy.not base64 of an escaped name',
    );
  });
});

describe('mongodb cursors and _id intervals', () => {
  it('cursors and range bounds are canonical Extended JSON, JSON-safe, types kept', () => {
    for (const id of IDS) {
      const text = bsonToText(id);
      expect(() => JSON.parse(text)).not.toThrow();
      const back = bsonFromText(text, 'scan cursor');
      expect(bsonToText(back)).toBe(text);
      expect(bsonTypeName(back)).toBe(bsonTypeName(id));
    }
    expect(bsonToText(new Int32(5))).toBe('{"$numberInt":"5"}');
    expect(() => bsonFromText('{not json', 'scan cursor')).toThrow(StoreError);
  });

  it('type classes follow MongoDB sort order', () => {
    const order = IDS.map(typeClassOf);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(TYPE_CLASSES.flat()).toContain('objectId');
  });

  /** MongoDB's sort order over IDS (sorted already): by position */
  const cmp = (a: unknown, b: unknown) => IDS.indexOf(a) - IDS.indexOf(b);

  /** MongoDB query semantics for `_id` filters, as documented: comparisons are type-bracketed. */
  function matches(filter: Record<string, unknown>, v: unknown): boolean {
    if (Array.isArray(filter.$or))
      return (filter.$or as Record<string, unknown>[]).some((f) => matches(f, v));
    const cond = filter._id as Record<string, unknown> | undefined;
    if (cond === undefined) return true;
    for (const [op, bound] of Object.entries(cond)) {
      if (op === '$type') {
        if (!(bound as string[]).includes(bsonTypeName(v))) return false;
        continue;
      }
      if (op === '$in') {
        if (!(bound as unknown[]).some((b) => cmp(b, v) === 0)) return false;
        continue;
      }
      if (typeClassOf(bound) !== typeClassOf(v)) return false;
      const c = cmp(v, bound);
      const ok = { $gt: c > 0, $gte: c >= 0, $lt: c < 0, $lte: c <= 0 }[op];
      if (ok !== true) return false;
    }
    return true;
  }

  it('an interval filter matches exactly the _ids inside it, across types', () => {
    const bound = fc.record({
      at: fc.integer({ min: 0, max: IDS.length - 1 }),
      inclusive: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.option(bound), fc.option(bound), (lo, hi) => {
        const l: IdBound | undefined = lo
          ? { value: IDS[lo.at], inclusive: lo.inclusive }
          : undefined;
        const h: IdBound | undefined = hi
          ? { value: IDS[hi.at], inclusive: hi.inclusive }
          : undefined;
        const filter = idIntervalFilter(l, h);
        for (let i = 0; i < IDS.length; i++) {
          const above = lo === null || (lo.inclusive ? i >= lo.at : i > lo.at);
          const below = hi === null || (hi.inclusive ? i <= hi.at : i < hi.at);
          expect(
            matches(filter, IDS[i]),
            `${bsonToText(IDS[i])} in ${JSON.stringify(filter)}`,
          ).toBe(above && below);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('ranges from boundaries cover every _id once, also later ones; scans resume after the cursor', () => {
    const boundaries = [IDS[5], IDS[10], IDS[15]];
    const ranges = JSON.parse(JSON.stringify(rangesFromIds(boundaries))) as ReturnType<
      typeof rangesFromIds
    >;
    expect(ranges.map((r) => r.id)).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(ranges[0]!.gte).toBeUndefined();
    expect(ranges[3]!.lt).toBeUndefined();
    for (const id of IDS) {
      expect(ranges.filter((r) => matches(rangeFilter(r), id))).toHaveLength(1);
    }
    // after the cursor 'k00001' within range 3/4 (strings .. ObjectId 5ca4...)
    const page = scanFilter(ranges[2]!, bsonToText('k00001'));
    expect(IDS.filter((id) => matches(page, id))).toEqual(IDS.slice(11, 15));
    expect(rangeFilter({ id: 'all' })).toEqual({});
  });

  it('the conditional filter: _id, the whole document as read, and a $type per number', () => {
    const read = deserialize(
      serialize({
        _id: 'a',
        s: 'x',
        n: new Int32(1),
        'dotted.key': new Double(2),
        $dollar: Long.fromNumber(3),
        arr: [new Int32(1), 'y', { d: new Double(2.5) }],
        deep: { e: { f: Decimal128.fromString('1.0') } },
      }),
    );
    const f = sameDocumentFilter(read);
    expect(f._id).toBe('a');
    const checks = (f.$expr as { $and: unknown[] }).$and;
    expect(checks[0]).toEqual({ $eq: ['$$ROOT', { $literal: read }] });
    const field = (name: string) => ({
      $getField: { field: { $literal: name }, input: '$$ROOT' },
    });
    expect(checks.slice(1)).toEqual([
      { $eq: [{ $type: '$n' }, 'int'] },
      { $eq: [{ $type: field('dotted.key') }, 'double'] },
      { $eq: [{ $type: field('$dollar') }, 'long'] },
      {
        $eq: [
          { $map: { input: '$arr', as: 't', in: { $type: '$$t' } } },
          ['int', 'string', 'object'],
        ],
      },
      {
        $eq: [
          {
            $type: {
              $getField: { field: { $literal: 'd' }, input: { $arrayElemAt: ['$arr', 2] } },
            },
          },
          'double',
        ],
      },
      { $eq: [{ $type: '$deep.e.f' }, 'decimal'] },
    ]);
    // no numbers: the document comparison alone
    expect(sameDocumentFilter(deserialize(serialize({ _id: 'b', s: 'x' })))).toEqual({
      _id: 'b',
      $expr: { $eq: ['$$ROOT', { $literal: { _id: 'b', s: 'x' } }] },
    });
  });
});

describe('mongodb URLs', () => {
  it('parses single- and multi-host URLs and mongodb+srv, keeping the raw URL for the driver', () => {
    const multi = parseStoreUrl('mongodb://u:s3cret@h1:27017,h2:27018/app?replicaSet=rs0');
    expect(multi.scheme).toBe('mongodb');
    expect(multi.raw).toBe('mongodb://u:s3cret@h1:27017,h2:27018/app?replicaSet=rs0');
    expect(multi.redacted).toBe('mongodb://u:***@h1:27017,h2:27018/app?replicaSet=rs0');
    expect(databaseOf(multi)).toBe('app');
    const srv = parseStoreUrl('mongodb+srv://u:s3cret@cluster0.example.net/?retryWrites=true');
    expect(srv.scheme).toBe('mongodb+srv');
    expect(databaseOf(srv)).toBe('switchyard');
    expect(databaseOf(parseStoreUrl('mongodb://localhost'))).toBe('switchyard');
    expect(() => parseStoreUrl('mongodb://')).toThrow(StoreUrlError);
    expect(() => parseStoreUrl('mongodb://u:p@/db')).toThrow(StoreUrlError);
    expect(() => databaseOf(parseStoreUrl('mongodb://h/a.b'))).toThrow(StoreUrlError);
  });

  it('redacts passwords and secret options', () => {
    expect(
      redactUrl(
        'mongodb://u:p@h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc',
      ),
    ).toBe('mongodb://u:***@h/db?authMechanism=MONGODB-AWS&authMechanismProperties=***');
    expect(redactSecrets('failed: mongodb+srv://admin:hunter2@c.example.net/x timed out')).toBe(
      'failed: mongodb+srv://admin:***@c.example.net/x timed out',
    );
  });

  it('withDatabase replaces the path and keeps the credentials working (authSource)', () => {
    expect(withDatabase('mongodb://localhost:27017', 't1')).toBe('mongodb://localhost:27017/t1');
    expect(withDatabase('mongodb://u:p@h1,h2/app?replicaSet=rs', 't1')).toBe(
      'mongodb://u:p@h1,h2/t1?replicaSet=rs&authSource=app',
    );
    expect(withDatabase('mongodb://u:p@h', 't1')).toBe('mongodb://u:p@h/t1?authSource=admin');
    expect(withDatabase('mongodb://u:p@h/x?authSource=y', 't1')).toBe(
      'mongodb://u:p@h/t1?authSource=y',
    );
  });

  it('refuses, before sending anything, documents over 16 MiB and documents with _sy_id', async () => {
    // a client that never connected: nothing may reach the network
    const s = new MongoStore(new MongoClient('mongodb://127.0.0.1:1'), 'mongodb://127.0.0.1:1');
    const c = s.collection('big');
    await expect(
      c.write([{ type: 'put', key: 'x', doc: { blob: 'x'.repeat(17 * 1024 * 1024) } }]),
    ).rejects.toThrow(DocumentTooLargeError);
    await expect(c.write([{ type: 'put', key: 'y', doc: { [OWN_ID_FIELD]: [] } }])).rejects.toThrow(
      /reserves/,
    );
    // a standalone server (no replica set): no change feed
    expect(c.capabilities.changeFeed).toBe(false);
    await expect(c.changes(null, 10)).rejects.toThrow(/replica set/);
    await s.close();
  });

  it('fails fast, as a StoreError without the password, when nothing answers', async () => {
    const err = await openStore(
      'mongodb://u:hunter2@127.0.0.1:1/x?serverSelectionTimeoutMS=300',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain('mongodb://u:***@127.0.0.1:1/x');
    expect((err as Error).message).not.toContain('hunter2');
  });
});

const MONGODB_URL = mongodbUrl();
const noMongodb = mongodbUnavailable();

describe.skipIf(noMongodb !== null)(
  `mongodb adapter on a server${noMongodb !== null ? ` (skipped: ${noMongodb})` : ''}`,
  () => {
    const stores: MongoStore[] = [];
    let n = 0;
    const open = async () => {
      n += 1;
      const s = (await openStore(
        withDatabase(MONGODB_URL!, `sy_unit_${process.pid}_${n}`),
      )) as MongoStore;
      stores.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of stores) {
        await s.client.db(s.database).dropDatabase();
        await s.close();
      }
    });

    it('stores native BSON the application reads with its own driver, types exact', async () => {
      const s = await open();
      const c = s.collection('users');
      const id = new ObjectId();
      const doc: Doc = {
        _id: id as unknown as Value,
        age: 42,
        score: new Double(1) as unknown as Value,
        big: Long.fromString('9223372036854775807') as unknown as Value,
        ratio: 0.5,
      };
      const [w] = await c.write([{ type: 'put', key: id.toHexString(), doc }]);
      const app = await c.driverCollection.findOne({ _id: id });
      expect(Object.keys(app!)).toEqual(['_id', 'age', 'score', 'big', 'ratio']);
      expect(app!.age).toBeInstanceOf(Int32);
      expect(app!.score).toBeInstanceOf(Double);
      expect(app!.big).toBeInstanceOf(Long);
      const got = await c.get(id.toHexString());
      expect(canonicalString(got!.doc)).toBe(canonicalString(doc));
      expect(w?.ok && w.rev).toBe(got!.rev); // the server keeps the bytes as sent
    });

    it('finds documents the application wrote under int, string and ObjectId _ids', async () => {
      const s = await open();
      const c = s.collection('mixed');
      const oid = new ObjectId();
      await c.driverCollection.insertMany([
        { _id: new Int32(1) as never, v: 'int' },
        { _id: 'one' as never, v: 'string' },
        { _id: oid, v: 'oid' },
        { _id: Long.fromString('9007199254740993') as never, v: 'long' },
      ]);
      const got = await c.getMany(['1', 'one', oid.toHexString(), '9007199254740993', '2']);
      expect(got.map((g) => g?.doc.v ?? null)).toEqual(['int', 'string', 'oid', 'long', null]);
      // a scan across types sees each once, in _id order (numbers, strings, ObjectIds)
      const keys: string[] = [];
      for (const range of await c.split(3)) {
        let cursor: string | null = null;
        do {
          const page = await c.scan({ range, cursor, limit: 1 });
          keys.push(...page.items.map((i) => i.key));
          cursor = page.cursor;
        } while (cursor !== null);
      }
      expect([...keys].sort(compareKeys)).toEqual(
        ['1', '9007199254740993', 'one', oid.toHexString()].sort(compareKeys),
      );
      // the same key under two _id types cannot be addressed
      await c.driverCollection.insertOne({ _id: '1' as never, v: 'string one' });
      await expect(c.get('1')).rejects.toThrow(/two documents with key '1'/);
    });

    it('a change of number type alone, or of field order alone, makes a stale write conflict', async () => {
      const s = await open();
      const c = s.collection('subtle');
      await c.write([{ type: 'put', key: 'a', doc: { _id: 'a', n: 1, m: 2 } }]);
      const read = (await c.get('a'))!;
      await c.driverCollection.updateOne({ _id: 'a' as never }, { $set: { n: new Double(1) } });
      const [r1] = await c.write([
        { type: 'put', key: 'a', doc: { _id: 'a', n: 5 }, ifRev: read.rev },
      ]);
      expect(r1?.ok).toBe(false);
      const read2 = (await c.get('a'))!;
      await c.driverCollection.replaceOne(
        { _id: 'a' as never },
        { m: new Int32(2), n: new Double(1) },
      );
      const [r2] = await c.write([
        { type: 'put', key: 'a', doc: { _id: 'a', n: 5 }, ifRev: read2.rev },
      ]);
      expect(r2?.ok).toBe(false);
      const read3 = (await c.get('a'))!;
      const [r3] = await c.write([
        { type: 'put', key: 'a', doc: { _id: 'a', n: 5 }, ifRev: read3.rev },
      ]);
      expect(r3?.ok).toBe(true);
    });

    it('conditional writes of documents with top-level $ and dotted field names', async () => {
      const s = await open();
      const c = s.collection('dollar');
      await c.write([{ type: 'put', key: 'a', doc: { $price: 1, 'a.b': 2 } }]);
      const read = (await c.get('a'))!;
      const [r] = await c.write([
        { type: 'put', key: 'a', doc: { $price: 3, 'a.b': 4 }, ifRev: read.rev },
      ]);
      expect(r?.ok).toBe(true);
      expect((await c.get('a'))!.doc).toEqual({ $price: 3, 'a.b': 4 });
    });

    it('change streams where the deployment has them', async () => {
      const s = await open();
      const c = s.collection('feed');
      if (!c.capabilities.changeFeed) {
        await expect(c.changes(null, 10)).rejects.toThrow(/replica set/);
        return;
      }
      const start = await c.changes(null, 10);
      await c.write([{ type: 'put', key: 'a', doc: { v: 1 } }]);
      await c.write([{ type: 'delete', key: 'a' }]);
      const seen: { key: string; doc: Doc | null }[] = [];
      let position = start.position;
      for (let i = 0; i < 20 && seen.length < 2; i++) {
        const res = await c.changes(position, 10);
        seen.push(...res.changes.map((ch) => ({ key: ch.key, doc: ch.doc })));
        position = res.position;
      }
      expect(seen[0]?.key).toBe('a');
      expect(seen.at(-1)).toEqual({ key: 'a', doc: null });
    });
  },
);
