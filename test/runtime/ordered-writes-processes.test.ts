/**
 * Dual writes of one key by concurrent writers, in one process and in several, against a target
 * with variable latency (FaultyStore, 0-15 ms per call): the new side must end up holding up() of
 * what the old side holds (or, when the ordering could not be proven, the key is in the repair
 * queue and the drain makes it so). dual-write.ts has the rule.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalEquals, type Doc } from '../../src/core/values.js';
import { Stage } from '../../src/engine/stages.js';
import { renameField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { drainRepairs, repairCollectionName } from '../../src/runtime/repair-queue.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { tempDir } from '../engine/backfill-fixtures.js';
import { docsOf, fixture, moveTo, yardFor } from './yard-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WRITER = path.join(root, 'test/runtime/fixtures/ordered-writer.mjs');
const KEYS = 4;

const migration = () =>
  compileMigration({
    id: 'm-order',
    collection: 'users',
    target: { collection: 'users_v2' },
    operations: [renameField('name', 'fullName')],
  });

const opened: SqliteStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

function runWriter(file: string, id: string, rounds: number): Promise<{ errors: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, file, id, String(rounds), String(KEYS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`writer ${id} exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as { errors: number });
    });
  });
}

/** Keys whose target is not up(source), and the keys the repair queue holds. */
async function divergence(store: SqliteStore) {
  const m = migration();
  const olds = new Map((await docsOf(store, 'users')).map((d) => [String(d._id), d]));
  const news = new Map((await docsOf(store, 'users_v2')).map((d) => [String(d._id), d]));
  const stale: { key: string; old: Doc | undefined; new: Doc | undefined }[] = [];
  for (const key of new Set([...olds.keys(), ...news.keys()])) {
    const o = olds.get(key);
    const n = news.get(key);
    const want = o === undefined ? undefined : m.up(o);
    const same = want === undefined || n === undefined ? want === n : canonicalEquals(want, n);
    if (!same) stale.push({ key, old: o, new: n });
  }
  const queued = (await docsOf(store, repairCollectionName('m-order'))).map((d) => String(d.key));
  return { stale, queued, keys: olds.size };
}

describe('dual writes of one key keep their order on the new side', () => {
  it.each([
    [Stage.dualWrite, undefined],
    [Stage.live, 50],
    [Stage.rampdown, undefined],
  ] as const)(
    '%s %s: three processes, each with two concurrent puts per key, against a slow target',
    async (stage, percent) => {
      const file = path.join(tempDir('sy-order-'), 'app.db');
      const store = new SqliteStore(file, `sqlite:${file}`);
      opened.push(store);
      const f = fixture(store, migration());
      await moveTo(f, stage, percent);
      const results = await Promise.all(['w1', 'w2', 'w3'].map((id) => runWriter(file, id, 15)));
      expect(results.map((r) => r.errors)).toEqual([0, 0, 0]);
      const { stale, queued, keys } = await divergence(store);
      expect(keys).toBeLessThanOrEqual(KEYS);
      // a target that is not up(source) is always one the repair queue holds
      for (const s of stale) expect(queued, JSON.stringify(s)).toContain(s.key);
      await drainRepairs(f, f.migration);
      const after = await divergence(store);
      expect(after.stale, JSON.stringify({ after, before: { stale, queued } })).toEqual([]);
    },
    60_000,
  );

  it('in one process: concurrent puts and deletes of a key reach the slow side in the order they reached the other', async () => {
    const inner = new SqliteStore(':memory:', 'sqlite::memory:');
    opened.push(inner);
    const slow = new FaultyStore(inner, { latencyMs: [0, 15], affects: (c) => c === 'users_v2' });
    const f = fixture(slow, migration(), inner);
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f, { publishMs: 0 });
    const users = yard.collection('users');
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 30; i++)
      for (let k = 0; k < 10; k++)
        ops.push(
          (i + k) % 7 === 6
            ? users.delete(`k${k}`)
            : users.put({ _id: `k${k}`, name: `v${i}`, n: i }),
        );
    await Promise.all(ops);
    await yard.close();
    const olds = await docsOf(inner, 'users');
    const news = await docsOf(inner, 'users_v2');
    expect(news).toEqual(olds.map((d) => f.migration.up(d)));
    expect(await docsOf(inner, repairCollectionName('m-order'))).toEqual([]);
  });
});
