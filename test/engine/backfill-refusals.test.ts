/**
 * Results of up() a backfill must never write (issue 13 items 5, 12, B), on SQLite (a real file)
 * and Redis (a real redis-server): a value that is not an Extended JSON value (function, Map,
 * BigInt, circular), a changed key, a result failing the migration's invariants or JSON Schema.
 * Each is a dead letter naming the key (and the path, or the reason); the stored document is
 * left as it was, byte for byte; every other document is migrated. In place and side by side.
 * Before the fix a function or a Map was dropped or stored as `{}`, a changed `_id` was stored
 * under the old key, invariants were not checked, and a BigInt failed with "no such table:
 * _sy_journal_..." after 23 retries.
 */
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { allDocs, contextFor, seedUsers } from './backfill-fixtures.js';

const N = 300;
const key = (i: number) => `u${String(i).padStart(6, '0')}`;

/** what up() does to document n: the refused ones, and an ordinary change for the rest */
function badUp(d: Doc): Doc | undefined {
  const n = d.n as number;
  const out = d as Record<string, unknown>;
  if (n === 1) out.f = () => 1;
  else if (n === 2) out.tags = new Map([['a', 1]]);
  else if (n === 3) out.nested = { big: 10n };
  else if (n === 4) {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    out.loop = loop;
  } else if (n === 5) out._id = `moved-${String(d._id)}`;
  else if (n === 6) out.note = 'bad';
  else if (n === 7) out.email = 42;
  else out.seen = true;
  return undefined;
}

/** the dead letter each refused document must get */
const EXPECTED: [number, RegExp][] = [
  [1, /cannot be stored.*\/f: .*function/],
  [2, /cannot be stored.*\/tags: .*Map/],
  [3, /cannot be stored.*\/nested\/big: .*BigInt/i],
  [4, /cannot be stored.*\/loop\/self: .*circular/],
  [5, /changes the key field '_id' from 'u000005' to 'moved-u000005'/],
  [6, /invariant 1: note is bad/],
  [7, /email.*(string|type)/],
];

function migration(target?: string): Migration {
  return compileMigration({
    id: target === undefined ? 'm-bad' : 'm-bad-copy',
    collection: 'users',
    up: badUp as (d: Doc) => Doc,
    ...(target !== undefined ? { target: { collection: target } } : {}),
    verify: {
      invariants: [(d) => d.note !== 'bad' || 'note is bad'],
      schema: { type: 'object', properties: { email: { type: 'string' } } },
    },
  });
}

async function expectRefusals(store: Store, m: Migration, written: string): Promise<void> {
  const before = await allDocs(store, 'users');
  const ctx = contextFor(store);
  const r = await backfill(ctx, m, {
    batchSize: 50,
    partitions: 2,
    concurrency: 1,
    stageSettleMs: 0,
  });
  expect(r.outcome).toBe('backfilled');
  expect(r.progress.deadLetters).toBe(EXPECTED.length);
  const dead = new Map((await new DeadLetters(store, m.id).list(100)).map((d) => [d.key, d]));
  expect([...dead.keys()].sort()).toEqual(EXPECTED.map(([i]) => key(i)));
  for (const [i, why] of EXPECTED) expect(dead.get(key(i))!.error).toMatch(why);
  const after = await allDocs(store, written);
  for (const [i] of EXPECTED) {
    // never written: in place the stored document is the one before; side by side, none
    if (written === 'users') expect(after.get(key(i))).toEqual(before.get(key(i)));
    else expect(after.has(key(i))).toBe(false);
  }
  expect(after.has('moved-u000005')).toBe(false);
  const migrated = [...after.values()].filter((d) => d.seen === true && d._sv === 2);
  expect(migrated).toHaveLength(N - EXPECTED.length);
}

function suite(name: string, open: () => Promise<Store>): void {
  describe(name, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
      await seedUsers(store, N);
    });
    afterEach(async () => store.close());

    it('in place: each refused result is a dead letter naming its key and why; nothing of it is written', async () => {
      await expectRefusals(store, migration(), 'users');
    });

    it('side by side: the same refusals; the target never gets those documents', async () => {
      const m = migration('users_v2');
      const ctx = contextFor(store);
      await setStage(ctx, m, Stage.dualWrite);
      await expectRefusals(store, m, 'users_v2');
    });
  });
}

onSqliteAndRedis('backfill refusals', suite);
