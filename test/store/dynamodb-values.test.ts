/**
 * DynamoDB types and limits: what the application writes natively (string, number and binary
 * sets, numbers of up to 38 digits, binary, nested maps and lists) survives a migration that
 * does not touch it, exactly, attribute type and all (a property over generated items, on
 * DynamoDB Local); the mapping in memory (no server); and an item over 400 KB after the transform
 * becomes a dead letter naming its key and size while the rest of the batch is written.
 */
import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Binary, Decimal128 } from 'bson';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalString, toEJSON, type Doc, type Value } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { addField } from '../../src/migration/index.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { DynamoStore } from '../../src/store/dynamodb/dynamodb-adapter.js';
import { DynamoNumber } from '../../src/store/dynamodb/dynamodb-numbers.js';
import {
  canonicalMap,
  fromAttr,
  StringSet,
  toAttr,
  type AttrMap,
  type AttrValue,
} from '../../src/store/dynamodb/dynamodb-values.js';
import { openStore } from '../../src/store/open-store.js';
import { contextFor } from '../engine/backfill-fixtures.js';
import { dynamoDescribe, useDynamoDbLocal, type DynamoDbLocal } from '../support/dynamodb-local.js';

const BIG = '12345678901234567890123456789012345678';

describe('dynamodb value mapping (in memory)', () => {
  it('sets read as arrays that write back as sets, also after an operation copied them', () => {
    const ss = fromAttr({ SS: ['b', 'a'] });
    expect(Array.isArray(ss)).toBe(true);
    expect(toAttr(ss)).toEqual({ SS: ['b', 'a'] });
    // the operations copy arrays with map(): still a set
    expect(toAttr((ss as Value[]).map((x) => x))).toEqual({ SS: ['b', 'a'] });
    // members that no longer make a set (a duplicate, another type): a list
    expect(toAttr((ss as Value[]).map(() => 'same'))).toEqual({
      L: [{ S: 'same' }, { S: 'same' }],
    });
    expect(toAttr((ss as Value[]).map(() => 1))).toEqual({ L: [{ N: '1' }, { N: '1' }] });
    // a plain array is a list
    expect(toAttr(['a', 'b'])).toEqual({ L: [{ S: 'a' }, { S: 'b' }] });
    expect(toAttr(fromAttr({ NS: ['1', '2.50', BIG] }))).toEqual({ NS: ['1', '2.5', BIG] });
    const bs = { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] };
    expect(canonicalMap({ x: toAttr(fromAttr(bs)) })).toBe(canonicalMap({ x: bs }));
    expect(StringSet.from(['x'])).toBeInstanceOf(StringSet);
  });

  it('a number of 38 digits keeps every digit; Extended JSON shows it as a 34-digit decimal', () => {
    const v = fromAttr({ N: BIG });
    expect(v).toBeInstanceOf(DynamoNumber);
    expect(v).toBeInstanceOf(Decimal128);
    expect(toAttr(v)).toEqual({ N: BIG });
    expect(toEJSON({ v } as Doc)).toBe(
      '{"v":{"$numberDecimal":"1.234567890123456789012345678901235E+37"}}',
    );
    expect(toAttr(fromAttr({ N: '-0.000000000000000000000000000000000000012345' }))).toEqual({
      N: '-0.000000000000000000000000000000000000012345',
    });
    // a Decimal128 from Extended JSON (not read from an N) keeps its own precision: tagged
    expect(toAttr(Decimal128.fromString('1.50') as unknown as Value)).toEqual({
      M: { $numberDecimal: { S: '1.50' } },
    });
  });
});

// ---------------------------------------------------------------- on DynamoDB Local

const arbName = fc
  .string({ minLength: 1, maxLength: 6 })
  .filter((s) => !s.startsWith('$') && s !== '_key' && s !== '_sv' && s !== 'touched');
const arbNumber = fc
  .tuple(fc.boolean(), fc.stringMatching(/^[1-9][0-9]{0,37}$/), fc.integer({ min: -80, max: 80 }))
  .map(([neg, digits, exp]) => `${neg ? '-' : ''}${digits}e${exp}`);
const arbBytes = fc.uint8Array({ minLength: 1, maxLength: 8 });
const arbAttr: fc.Arbitrary<AttrValue> = fc.letrec<{ v: AttrValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 10 }).map((S) => ({ S })),
    arbNumber.map((N) => ({ N })),
    arbBytes.map((B) => ({ B })),
    fc.boolean().map((BOOL) => ({ BOOL })),
    fc.constant({ NULL: true as const }),
    fc
      .uniqueArray(fc.string({ minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 })
      .map((SS) => ({ SS })),
    fc
      .uniqueArray(arbNumber, {
        minLength: 1,
        maxLength: 4,
        selector: (n) => Number(n).toPrecision(17) + n,
      })
      .map((NS) => ({ NS })),
    fc
      .uniqueArray(arbBytes, {
        minLength: 1,
        maxLength: 3,
        selector: (b) => Buffer.from(b).toString('hex'),
      })
      .map((BS) => ({ BS })),
    fc.array(tie('v'), { maxLength: 3 }).map((L) => ({ L })),
    fc.dictionary(arbName, tie('v'), { maxKeys: 3 }).map((M) => ({ M })),
  ),
})).v;

let server: () => DynamoDbLocal;
let n = 0;

async function open(): Promise<DynamoStore> {
  n += 1;
  return (await openStore(`${server().url}&prefix=v${n}_`)) as DynamoStore;
}

dynamoDescribe('dynamodb types and limits on DynamoDB Local', () => {
  server = useDynamoDbLocal();

  it('what the application wrote natively comes back exactly after a migration that does not touch it (property)', async () => {
    const s = await open();
    const c = s.collection('native');
    await c.write([{ type: 'put', key: 'init', doc: {} }]);
    const sdk = s.client as unknown as DynamoDBClient;
    const m = compileMigration({
      id: 'm-touch',
      collection: 'native',
      operations: [addField('touched', 1)],
    });
    let k = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(arbName, arbAttr, { minKeys: 1, maxKeys: 6 }),
        async (attrs) => {
          const key = `k${k++}`;
          const item: AttrMap = { ...attrs, _key: { S: key } };
          await sdk.send(new PutItemCommand({ TableName: c.tableName, Item: item as never }));
          const read = (await c.get(key))!;
          const [r] = await c.write([{ type: 'put', key, doc: m.up(read.doc), ifRev: read.rev }]);
          expect(r?.ok).toBe(true);
          const after = await sdk.send(
            new GetItemCommand({
              TableName: c.tableName,
              Key: { _key: { S: key } },
              ConsistentRead: true,
            }),
          );
          expect(canonicalMap(after.Item as AttrMap)).toBe(
            canonicalMap({ ...item, touched: { N: '1' }, _sv: { N: '2' } }),
          );
        },
      ),
      { numRuns: 40 },
    );
    // a custom up() that maps a set's members keeps it a set while they still make one
    const tags = compileMigration({
      id: 'm-tags',
      collection: 'native',
      up: (d: Doc) => ({ ...d, tags: (d.tags as string[]).map((t) => `${t}!`) }),
    });
    await sdk.send(
      new PutItemCommand({
        TableName: c.tableName,
        Item: {
          _key: { S: 'tags' },
          tags: { SS: ['a', 'b'] },
          blob: { B: new Uint8Array([0, 255]) },
        },
      }),
    );
    const read = (await c.get('tags'))!;
    await c.write([{ type: 'put', key: 'tags', doc: tags.up(read.doc), ifRev: read.rev }]);
    const raw = await sdk.send(
      new GetItemCommand({ TableName: c.tableName, Key: { _key: { S: 'tags' } } }),
    );
    expect([...(raw.Item!.tags!.SS ?? [])].sort()).toEqual(['a!', 'b!']);
    expect((await c.get('tags'))!.doc.blob).toEqual(new Binary(Buffer.from([0, 255]), 0));
    await s.close();
  }, 180_000);

  it('an item over 400 KB after the transform is a dead letter naming its key and size; the rest of the batch is written', async () => {
    const s = await open();
    const c = s.collection('grow');
    await c.write(
      Array.from({ length: 30 }, (_, i) => ({
        type: 'put' as const,
        key: `g${String(i).padStart(2, '0')}`,
        doc: { pad: 'x'.repeat(i === 7 ? 300 * 1024 : 10) },
      })),
    );
    const m = compileMigration({
      id: 'm-grow',
      collection: 'grow',
      up: (d: Doc) => ({ ...d, copy: d.pad as string }),
    });
    const r = await backfill(contextFor(s), m, { batchSize: 50, partitions: 1 });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress.migrated).toBe(29);
    expect(r.progress.deadLetters).toBe(1);
    const dead: { key: string; error: string }[] = [];
    for await (const page of new DeadLetters(s, 'm-grow').all(10)) dead.push(...page);
    expect(dead.map((d) => d.key)).toEqual(['g07']);
    expect(dead[0]!.error).toMatch(/document 'g07' is \d{6} bytes as a DynamoDB item; .*400 KB/);
    expect((await c.get('g07'))!.doc._sv).toBeUndefined();
    expect((await c.get('g08'))!.doc._sv).toBe(2);
    expect(canonicalString((await c.get('g08'))!.doc.copy!)).toBe(canonicalString('x'.repeat(10)));
    await s.close();
  }, 120_000);
});
