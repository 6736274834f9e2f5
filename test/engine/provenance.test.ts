/**
 * Per-document provenance (issue 13 item 14): with `provenance: '_sy'` an in-place backfill
 * stamps every document it writes with `{ migration, at }`; verify ignores the field (the
 * invariants and the after-schema never see it); rollback restores every document exactly, the
 * field gone with the rest. A bad field name is refused naming the file and field (exit 2).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { lowercase, splitField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { spawnCli } from '../support/cli-process.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';

const hasRedis = redisOrFailInCi();

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-prov-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const snapshot = async (store: Store) =>
  new Map([...(await allDocs(store))].map(([k, d]) => [k, canonicalString(d)]));

async function provenanceOn(store: Store): Promise<void> {
  await seedUsers(store, 60);
  const before = await snapshot(store);
  const m = compileMigration({
    id: 'm-prov',
    collection: 'users',
    provenance: '_sy',
    operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
    verify: {
      // the provenance field is not part of the document's shape: verify must not show it
      invariants: [(d) => !('_sy' in d) || 'the provenance field reached the invariants'],
      schema: {
        type: 'object',
        required: ['first', 'last'],
        properties: {
          _id: {},
          first: {},
          last: {},
          email: {},
          note: {},
          n: {},
          _sv: {},
        },
        additionalProperties: false,
      },
    },
  });
  const ctx = contextFor(store);
  const t0 = Date.now();
  expect((await backfill(ctx, m, { batchSize: 16 })).outcome).toBe('backfilled');
  const t1 = Date.now();
  const docs = await allDocs(store);
  expect(docs.size).toBe(60);
  for (const d of docs.values()) {
    expect(d._sv).toBe(2);
    const stamp = d._sy as { migration: string; at: string };
    expect(stamp.migration).toBe('m-prov');
    expect(Date.parse(stamp.at)).toBeGreaterThanOrEqual(t0 - 1000);
    expect(Date.parse(stamp.at)).toBeLessThanOrEqual(t1 + 1000);
  }
  const v = await verify(ctx, m);
  expect(v).toMatchObject({ ok: true, compared: 60, mismatched: 0 });
  // the application changes one document: the difference is its field, never the stamp
  const u7 = docs.get('u000007')!;
  await store
    .collection('users')
    .write([{ type: 'put', key: 'u000007', doc: { ...u7, first: 'Changed' } }]);
  const drift = await verify(ctx, m);
  expect(drift.mismatched).toBe(1);
  expect(Object.keys(drift.paths)).toEqual(['first']);
  await store.collection('users').write([{ type: 'put', key: 'u000007', doc: u7 }]);
  const r = await rollback(ctx, m);
  expect(r).toMatchObject({ outcome: 'rolled-back', restored: 60, conflicts: 0 });
  expect(await snapshot(store)).toEqual(before); // exact: the stamp gone with the rest
}

describe('provenance', () => {
  it('SQLite: stamped by the backfill, ignored by verify, gone after rollback', async () => {
    const store = sqliteAt(path.join(dir, 'p.db'));
    await provenanceOn(store);
    await store.close();
  });

  it('down() of a document the application changed drops the stamp', () => {
    const m = compileMigration({
      id: 'm-prov',
      collection: 'users',
      provenance: '_sy',
      operations: [splitField('name', ['first', 'last'], ' ')],
    });
    const up = m.stamp(m.up({ _id: 'a', name: 'Ada Lovelace' }), new Date(0));
    expect(up._sy).toEqual({ migration: 'm-prov', at: '1970-01-01T00:00:00.000Z' });
    expect(m.down(up)).toEqual({ _id: 'a', name: 'Ada Lovelace' });
    // without provenance configured nothing is stamped
    const plain = compileMigration({ id: 'p', collection: 'users', operations: [] });
    expect(plain.stamp({ _id: 'a' }, new Date(0))).toEqual({ _id: 'a' });
  });

  it('the CLI refuses a provenance field that is not a field name (exit 2, file and field named)', async () => {
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-prov.mjs'),
      `import { defineMigration, lowercase } from 'switchyard';
export default defineMigration({ collection: 'users', provenance: 42, operations: [lowercase('email')] });
`,
    );
    const p = spawnCli(['--store', `sqlite:${path.join(dir, 'c.db')}`, 'backfill', 'prov'], dir);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/20261120-prov\.mjs/);
    expect(p.stderr()).toMatch(/provenance/);
  });
});

describe.skipIf(!hasRedis)(
  `provenance on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    const server = useRedisServer();
    it('Redis: stamped by the backfill, ignored by verify, gone after rollback', async () => {
      const store = await openStore(`redis://127.0.0.1:${server().port}/0?prefix=pv:`);
      try {
        await provenanceOn(store);
      } finally {
        await store.close();
      }
    });
  },
);
