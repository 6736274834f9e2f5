/**
 * A canary as real processes (issue 13 item 15): `backfill --limit` killed with SIGKILL at random
 * moments and run again migrates exactly N documents, none transformed twice; two workers running
 * the same canary at once migrate exactly N between them (one partition: the second one waits).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
  dir = tempDir('sy-canproc-');
  db = path.join(dir, 'data.db');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', '20261120-split.mjs'), MIGRATION);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function startWorker(extra: string[]): CliChild {
  // prettier-ignore
  return startCli(dir, ['--store', `sqlite:${db}`, '--migrations', path.join(dir, 'migrations'), '--json', 'backfill', 'split', '--batch-size', '50', ...extra]);
}

const exited = exitOf;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** every document at v2 has n = i + 1 (transformed once); returns how many are at v2 */
async function checkOnce(n: number): Promise<number> {
  const store = sqliteAt(db);
  try {
    const docs = await allDocs(store);
    let migrated = 0;
    for (let i = 0; i < n; i++) {
      const d = docs.get(`u${String(i).padStart(6, '0')}`)!;
      if (d._sv === 2) {
        migrated += 1;
        expect(d.n).toBe(i + 1);
      } else expect(d.n).toBe(i);
    }
    return migrated;
  } finally {
    await store.close();
  }
}

describe('canary processes', () => {
  it('kill -9 mid-canary, run again: exactly N migrated, none twice, the first N in key order', async () => {
    const N = 4000;
    const LIMIT = 1500;
    const seed = sqliteAt(db);
    await seedUsers(seed, N);
    await seed.close();
    let kills = 0;
    for (; kills < 3; kills++) {
      const child = startWorker(['--limit', String(LIMIT), '--rate', '800']);
      await sleep(600 + Math.random() * 500);
      if (child.exitCode !== null) break;
      child.kill('SIGKILL');
      await exited(child);
    }
    expect(kills).toBeGreaterThanOrEqual(2);
    expect(await checkOnce(N)).toBeLessThan(LIMIT); // the kills interrupted it
    const final = startWorker(['--limit', String(LIMIT)]);
    expect(await exited(final)).toBe(0);
    expect(final.output).toMatch(/"outcome":"canary"/);
    expect(await checkOnce(N)).toBe(LIMIT);
    const store = sqliteAt(db);
    const docs = await allDocs(store);
    // SQLite scans in key order: the canary is u000000 .. u001499
    for (let i = 0; i < N; i++)
      expect(docs.get(`u${String(i).padStart(6, '0')}`)!._sv === 2).toBe(i < LIMIT);
    expect(await new Journal(store, '20261120-split').count()).toBe(LIMIT);
    expect((await new Catalog(store).get('20261120-split'))!.status).toBe('canary');
    await store.close();
  }, 120_000);

  it('two workers running one canary at once migrate exactly N between them', async () => {
    const N = 3000;
    const LIMIT = 1000;
    const seed = sqliteAt(db);
    await seedUsers(seed, N);
    await seed.close();
    const a = startWorker(['--limit', String(LIMIT), '--worker-id', 'a', '--rate', '2000']);
    await sleep(300);
    const b = startWorker(['--limit', String(LIMIT), '--worker-id', 'b', '--rate', '2000']);
    expect([await exited(a), await exited(b)], a.output + b.output).toEqual([0, 0]);
    expect(await checkOnce(N)).toBe(LIMIT);
  }, 120_000);
});
