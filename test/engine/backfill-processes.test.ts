/**
 * The backfill as real processes: `node bin/switchyard.js backfill` children killed with
 * SIGKILL at random moments, several workers sharing one backfill, an application writing
 * through its own connection meanwhile. The result must be exact: every document transformed
 * exactly once (the migration increments a counter), every acknowledged application write kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { Catalog } from '../../src/state/catalog.js';
import { Journal } from '../../src/state/journal.js';
import { allDocs, seedUsers, sqliteAt, tempDir } from './backfill-fixtures.js';
import { exitOf, startCli, type CliChild } from '../support/cli-process.js';

const MIGRATION = `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' ')],
  // counts transformations: a document transformed twice would show n + 2
  up: (d) => { d.n = d.n + 1; },
});
`;

let dir: string;
let db: string;
beforeEach(() => {
  dir = tempDir('sy-bfproc-');
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', '20261120-split.mjs'), MIGRATION);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function startWorker(extra: string[] = []): CliChild {
  // prettier-ignore
  return startCli(dir, ['--store', `sqlite:${db}`, '--migrations', path.join(dir, 'migrations'), '--json', 'backfill', 'split', '--batch-size', '100', ...extra]);
}

const exited = exitOf;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until worker `id` owns a partition that has a checkpointed cursor. */
async function victimWorked(id: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const probe = sqliteAt(db);
    try {
      const n = probe.database
        .prepare(
          `SELECT count(*) FROM _sy_partitions WHERE json_extract(doc, '$.owner') = ? AND json_extract(doc, '$.cursor') IS NOT NULL`,
        )
        .pluck()
        .get(id) as number;
      if (n > 0) return;
    } catch {
      // the state table may not exist yet
    } finally {
      await probe.close();
    }
    await sleep(100);
  }
  throw new Error(`worker ${id} never checkpointed a batch`);
}

function expected(i: number, note: string): Doc {
  return {
    _id: `u${String(i).padStart(6, '0')}`,
    email: `User${i}@Example.COM`,
    note,
    n: i + 1,
    first: `First${i}`,
    last: `Last${i}`,
    _sv: 2,
  };
}

async function migratedCount(): Promise<number> {
  const s = sqliteAt(db);
  const n = s.database
    .prepare(`SELECT count(*) FROM users WHERE json_extract(doc, '$._sv') = 2`)
    .pluck()
    .get() as number;
  await s.close();
  return n;
}

/** An application writing through its own connection: changes `note`, keeps everything else. */
function startAppWriter(n: number) {
  const app = sqliteAt(db);
  const acknowledged = new Map<string, string>();
  let stop = false;
  let writes = 0;
  const done = (async () => {
    let seq = 0;
    while (!stop) {
      const i = Math.floor(Math.random() * n);
      const key = `u${String(i).padStart(6, '0')}`;
      const cur = (await app.collection('users').get(key))!;
      const note = `app-${seq++}`;
      const [r] = await app
        .collection('users')
        .write([{ type: 'put', key, doc: { ...cur.doc, note }, ifRev: cur.rev }]);
      if (r?.ok) {
        acknowledged.set(key, note);
        writes += 1;
      }
      await sleep(2);
    }
    await app.close();
  })();
  return {
    acknowledged,
    get writes() {
      return writes;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe('backfill processes', () => {
  it('survives kill -9 at random moments (>= 5 kills) with an application writing meanwhile: exact, nothing transformed twice, no write lost', async () => {
    const N = 20_000;
    const seed = sqliteAt(db);
    await seedUsers(seed, N);
    await seed.close();
    const writer = startAppWriter(N);
    let kills = 0;
    let last = 0;
    while (kills < 6) {
      const child = startWorker(['--rate', '2500', '--partitions', '8', '--concurrency', '2']);
      await sleep(700 + Math.random() * 900);
      if (child.exitCode !== null) break; // finished before we could kill it
      child.kill('SIGKILL');
      await exited(child);
      kills += 1;
      const now = await migratedCount();
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(last).toBeLessThan(N); // the kills really interrupted the work
    // the last run finishes, resuming from the checkpoints
    const final = startWorker();
    expect(await exited(final)).toBe(0);
    await writer.stop();
    expect(final.output).toMatch(/"outcome":"backfilled"/);
    expect(writer.writes).toBeGreaterThan(200);
    const store = sqliteAt(db);
    const docs = await allDocs(store);
    expect(docs.size).toBe(N);
    for (let i = 0; i < N; i++) {
      const key = `u${String(i).padStart(6, '0')}`;
      expect(docs.get(key)).toEqual(expected(i, writer.acknowledged.get(key) ?? 'initial'));
    }
    expect(await new Journal(store, '20261120-split').count()).toBe(N);
    expect((await new Catalog(store).get('20261120-split'))!.status).toBe('backfilled');
    await store.close();
  }, 180_000);

  it.each([2, 3])(
    '%i workers share one backfill; one is killed; the others finish its partitions exactly',
    async (workers) => {
      const N = 12_000;
      const seed = sqliteAt(db);
      await seedUsers(seed, N);
      await seed.close();
      const children = Array.from({ length: workers }, (_, i) =>
        startWorker([
          '--worker-id',
          `w${i + 1}`,
          '--rate',
          '1500',
          '--partitions',
          '24',
          '--concurrency',
          '1',
        ]),
      );
      // kill the victim only once it has really worked: it holds a lease and has checkpointed a
      // batch (a fixed sleep raced the CLI's start-up on a loaded machine)
      await victimWorked('w2');
      const victim = children[1]!;
      victim.kill('SIGKILL');
      await exited(victim);
      const rest = children.filter((c) => c !== victim);
      const codes = await Promise.all(rest.map(exited));
      expect(codes).toEqual(rest.map(() => 0));
      expect(rest.some((c) => /"outcome":"backfilled"/.test(c.output))).toBe(true);
      const store = sqliteAt(db);
      const docs = await allDocs(store);
      for (let i = 0; i < N; i++)
        expect(docs.get(`u${String(i).padStart(6, '0')}`)).toEqual(expected(i, 'initial'));
      // the victim really worked before it died, and its partitions were taken over
      // (a partition that changed hands has fencing token 2 or more)
      const tokens = store.database
        .prepare(
          `SELECT json_extract(doc, '$.token') FROM _sy_partitions WHERE k NOT LIKE '%/plan'`,
        )
        .pluck()
        .all() as number[];
      expect(Math.max(...tokens)).toBeGreaterThanOrEqual(2);
      const open = store.database
        .prepare(
          `SELECT count(*) FROM _sy_partitions WHERE k NOT LIKE '%/plan' AND json_extract(doc, '$.done') = 0`,
        )
        .pluck()
        .get() as number;
      expect(open).toBe(0);
      const starts = store.database
        .prepare(`SELECT count(*) FROM _sy_audit WHERE json_extract(doc, '$.outcome') = 'started'`)
        .pluck()
        .get() as number;
      expect(starts).toBe(workers);
      await store.close();
    },
    120_000,
  );
});
