/**
 * A fan-out backfill as real CLI processes (issue 16 item 2), on SQLite and a real redis-server:
 * `switchyard backfill` killed with SIGKILL mid-run, twice, while the application grows and
 * shrinks the `auditLog[]` of users not yet migrated through its own connection, then resumed to
 * the end. `auditLogs` then holds exactly the elements of every user as the application left it
 * (a key of an earlier, killed attempt that the array no longer has is gone), verify exits 0,
 * and rollback gives back the exports byte for byte: `users` as seeded with the application's
 * acknowledged writes, `auditLogs` as empty as before. plan shows the emitted documents; an
 * ill-formed fanOut is exit 2 naming the file and the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { allDocs, tempDir } from './backfill-fixtures.js';
import { projectCli } from '../support/project-cli.js';
import {
  auditEntry,
  expectedEmitted,
  FAN_OUT_MIGRATION_FILE,
  fanUser,
  seedFanUsers,
  userKey,
} from './fan-out-fixtures.js';

const N = 5000;
const ID = '20261120-audit-fan-out';
const hasRedis = redisOrFailInCi();
const redis = useRedisServer(hasRedis);

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-fanproc-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${ID}.ts`), FAN_OUT_MIGRATION_FILE);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const { sy, exportOf, killMidway } = projectCli(() => dir);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function migrated(store: Store): Promise<number> {
  return [...(await allDocs(store, 'users')).values()].filter((d) => d._sv === 2).length;
}

/** The application: grows or shrinks the audit log of users not yet migrated (conditional writes). */
function startApp(store: Store) {
  const last = new Map<string, Doc>();
  let stop = false;
  const users = store.collection('users');
  const done = (async () => {
    for (let seq = 0; !stop; seq++) {
      const i = Math.floor(Math.random() * N);
      const cur = await users.get(userKey(i));
      if (cur !== null && cur.doc._sv === undefined) {
        const log = cur.doc.auditLog as Doc[];
        const doc = {
          ...cur.doc,
          auditLog:
            seq % 3 === 0 ? log.slice(0, Math.max(0, log.length - 2)) : [...log, auditEntry(i, 7)],
        };
        const [r] = await users.write([{ type: 'put', key: userKey(i), doc, ifRev: cur.rev }]);
        if (r?.ok) last.set(userKey(i), doc);
      }
      await sleep(2);
    }
  })();
  return {
    last,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** the export of `users` holding `docs`, written to a SQLite file of its own */
async function exportOfDocs(docs: ReadonlyMap<string, Doc>): Promise<string> {
  const url = `sqlite:${path.join(dir, 'expected.db')}`;
  const s = await openStore(url);
  await s
    .collection('users')
    .write([...docs].map(([key, doc]) => ({ type: 'put' as const, key, doc })));
  await s.close();
  return exportOf(url, 'users');
}

const stores: [string, () => string, boolean][] = [
  ['sqlite', () => `sqlite:${path.join(dir, 'data.db')}`, true],
  ['redis', () => `${redis().url}/0?prefix=fo${Date.now()}:`, hasRedis],
];

describe('a fan-out backfill as processes', () => {
  for (const [name, urlOf, available] of stores) {
    it.skipIf(!available)(
      `${name}${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}: kill -9 twice with the application writing, resumed; verify exact; rollback exact`,
      async () => {
        const url = urlOf();
        const app = await openStore(url);
        try {
          await seedFanUsers(app, N);
          const logsBefore = exportOf(url, 'auditLogs');
          // plan shows what would be written to auditLogs, and writes nothing
          const p = sy(url, 'plan', ID, '--sample', '50');
          expect(p.code, p.err).toBe(0);
          expect(p.out).toMatch(
            /fans out auditLog into auditLogs \(userId = the parent's key\) — in the sample \d+ documents from 50 parents/,
          );
          expect(p.out).toMatch(
            /\+ auditLogs\/u\d{4}:0:\n\s+\+ \/_id: "u\d{4}:0"\n\s+\+ \/at: "2026-01-01T00:00:00Z"\n\s+\+ \/action: "login"/,
          );
          expect(exportOf(url, 'auditLogs')).toBe(logsBefore);

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
          expect(writer.last.size).toBeGreaterThan(10);

          const expected = new Map<string, Doc>(
            Array.from({ length: N }, (_, i) => [
              userKey(i),
              writer.last.get(userKey(i)) ?? fanUser(i),
            ]),
          );
          const users = await allDocs(app, 'users');
          for (const [k, d] of expected) {
            const { auditLog: _a, ...rest } = d;
            expect(users.get(k)).toEqual({ ...rest, _sv: 2 });
          }
          expect(await allDocs(app, 'auditLogs')).toEqual(expectedEmitted(expected));

          const v = sy(url, 'verify', ID, '--full', '--json');
          expect(v.code, v.err).toBe(0);
          expect(JSON.parse(v.out)).toMatchObject({
            ok: true,
            compared: N,
            matched: N,
            mismatched: 0,
            missing: 0,
            emitted: expectedEmitted(expected).size,
          });

          const rb = sy(url, 'rollback', ID, '--reason', 'test', '--json');
          expect(rb.code, rb.err).toBe(0);
          expect(JSON.parse(rb.out.trim().split('\n').pop()!)).toMatchObject({
            outcome: 'rolled-back',
            conflicts: 0,
          });
          expect(exportOf(url, 'users')).toBe(await exportOfDocs(expected));
          expect(exportOf(url, 'auditLogs')).toBe(logsBefore);
        } finally {
          await app.close();
        }
      },
      240_000,
    );
  }

  it('an ill-formed fanOut is exit 2 naming the file and the field, nothing written', async () => {
    const url = `sqlite:${path.join(dir, 'data.db')}`;
    const s = await openStore(url);
    await seedFanUsers(s, 5);
    await s.close();
    const file = path.join(dir, 'migrations', `${ID}.ts`);
    fs.writeFileSync(file, FAN_OUT_MIGRATION_FILE.replace("into: 'auditLogs'", "into: 'users'"));
    const before = exportOf(url, 'users');
    const r = sy(url, 'backfill', ID);
    expect(r.code).toBe(2);
    expect(r.err).toContain(file);
    expect(r.err).toMatch(/fanOut\.into.*is the migrated collection/);
    expect(exportOf(url, 'users')).toBe(before);
    expect(exportOf(url, 'auditLogs')).toBe('');
  });
});
