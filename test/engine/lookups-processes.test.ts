/**
 * A backfill with lookups as real CLI processes (issue 16 item 1), on SQLite and a real
 * redis-server: `switchyard backfill` killed with SIGKILL mid-run, twice, while the application
 * writes concurrently through its own connection — not-yet-migrated documents (their title) and
 * the looked-up collection (docOps versions) — then resumed to the end. verify exits 0 (the
 * docOps changes are `lookupChanged`, not drift), and rollback restores every document exactly:
 * the export after equals, byte for byte, the export of the documents as seeded with the
 * application's acknowledged writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { allDocs, tempDir } from './backfill-fixtures.js';
import { projectCli } from '../support/project-cli.js';
import { docKey, docOf, LOOKUP_MIGRATION_FILE, opOf, seedDocsAndOps } from './lookups-fixtures.js';

const N = 6000;
const ID = '20261120-doc-version';
const hasRedis = redisOrFailInCi();
const redis = useRedisServer(hasRedis);

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-lkproc-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${ID}.ts`), LOOKUP_MIGRATION_FILE);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const { sy, exportOf: exportOfCollection, killMidway } = projectCli(() => dir);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function migrated(store: Store): Promise<number> {
  return [...(await allDocs(store, 'docs')).values()].filter((d) => d._sv === 2).length;
}

/**
 * The application, on its own connection: retitles documents not yet migrated (a read, then a
 * write conditional on the rev read) and bumps docOps versions.
 */
function startApp(store: Store) {
  const titles = new Map<string, string>();
  let stop = false;
  let writes = 0;
  let opWrites = 0;
  const done = (async () => {
    for (let seq = 0; !stop; seq++) {
      const i = Math.floor(Math.random() * N);
      const cur = await store.collection('docs').get(docKey(i));
      if (cur !== null && cur.doc._sv === undefined) {
        const title = `app-${seq}`;
        const [r] = await store
          .collection('docs')
          .write([{ type: 'put', key: docKey(i), doc: { ...cur.doc, title }, ifRev: cur.rev }]);
        if (r?.ok) {
          titles.set(docKey(i), title);
          writes += 1;
        }
      }
      if (seq % 4 === 0) {
        const j = 1 + 5 * Math.floor(Math.random() * (N / 10)); // always an existing docOps key
        await store
          .collection('docOps')
          .write([{ type: 'put', key: `op${j}`, doc: { ...opOf(j), version: 100_000 + seq } }]);
        opWrites += 1;
      }
      await sleep(2);
    }
  })();
  return {
    titles,
    get writes() {
      return writes;
    },
    get opWrites() {
      return opWrites;
    },
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/**
 * `switchyard export docs` of the documents as seeded with the application's acknowledged titles
 * (written to a SQLite file of their own), lines in key order (a Redis scan has its own order).
 */
async function expectedExport(titles: ReadonlyMap<string, string>): Promise<string> {
  const url = `sqlite:${path.join(dir, 'expected.db')}`;
  const s = await openStore(url);
  await s.collection('docs').write(
    Array.from({ length: N }, (_, i) => {
      const d = docOf(i);
      const title = titles.get(docKey(i));
      return { type: 'put' as const, key: docKey(i), doc: title ? { ...d, title } : d };
    }),
  );
  await s.close();
  return exportOf(url);
}

const exportOf = (url: string) => exportOfCollection(url, 'docs');

const stores: [string, () => string, boolean][] = [
  ['sqlite', () => `sqlite:${path.join(dir, 'data.db')}`, true],
  ['redis', () => `${redis().url}/0?prefix=lk${Date.now()}:`, hasRedis],
];

describe('a backfill with lookups as processes', () => {
  for (const [name, urlOf, available] of stores) {
    it.skipIf(!available)(
      `${name}${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}: kill -9 twice with the application writing, resumed; verify exact; rollback exact`,
      async () => {
        const url = urlOf();
        const app = await openStore(url);
        try {
          await seedDocsAndOps(app, N);
          // plan shows the lookups and runs up() with them on its sample
          const p = sy(url, 'plan', ID, '--sample', '100');
          expect(p.code, p.err).toBe(0);
          expect(p.out).toMatch(
            /looks up docOps: the docOps document whose key is doc_id \(read only\) — in the sample \d+ found, \d+ not found, 0 without a key/,
          );
          const writer = startApp(app);
          for (let kill = 0; kill < 2; kill++) {
            const before = await migrated(app);
            await killMidway(
              url,
              ['backfill', ID, '--rate', '1500', '--batch-size', '100'],
              async () => (await migrated(app)) !== before,
              { polls: 400, settleMs: 200, jitterMs: 400 },
            );
          }
          const killed = await migrated(app);
          expect(killed).toBeGreaterThan(0);
          expect(killed).toBeLessThan(N); // really interrupted
          const done = sy(url, 'backfill', ID, '--batch-size', '200');
          expect(done.code, done.err).toBe(0);
          await writer.stop();
          expect(writer.writes).toBeGreaterThan(10);
          expect(writer.opWrites).toBeGreaterThan(10);

          // every document carries the version of its docOps document as some batch read it
          const docs = await allDocs(app, 'docs');
          for (let i = 0; i < N; i++) {
            const d = docs.get(docKey(i))!;
            expect(d).toMatchObject({ _sv: 2, title: writer.titles.get(docKey(i)) ?? `t${i}` });
          }

          const v = sy(url, 'verify', ID, '--full', '--json');
          expect(v.code, v.err).toBe(0);
          const report = JSON.parse(v.out);
          expect(report).toMatchObject({ ok: true, compared: N, mismatched: 0, oldVersion: 0 });
          expect(report.matched + report.lookupChanged).toBe(N);

          const rb = sy(url, 'rollback', ID, '--reason', 'test', '--json');
          expect(rb.code, rb.err).toBe(0);
          expect(JSON.parse(rb.out.trim().split('\n').pop()!)).toMatchObject({
            outcome: 'rolled-back',
            conflicts: 0,
          });
          expect(exportOf(url)).toBe(await expectedExport(writer.titles));
        } finally {
          await app.close();
        }
      },
      240_000,
    );
  }
});
