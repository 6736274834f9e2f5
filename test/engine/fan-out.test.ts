/**
 * Fan-out in place (issue 16 item 2), on SQLite and a real redis-server: each user's `auditLog[]`
 * becomes documents of `auditLogs` written before the user; verify checks both collections and
 * names what differs in each; rollback removes exactly the emitted documents the journal names
 * (an edited one is a conflict, kept) and restores the users from their before-images, so the
 * exports before and after are the same text. A redone attempt whose array shrank removes the
 * keys the earlier attempt wrote; a key the migration did not write refuses its parent; and the
 * application writing the users during the run loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { contentHash, toStorageJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { verify } from '../../src/engine/verify.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import { Journal } from '../../src/state/journal.js';
import type { Store } from '../../src/store/contract.js';
import { onSqliteAndRedis } from '../support/sqlite-and-redis.js';
import { allDocs, contextFor, exportText } from './backfill-fixtures.js';
import {
  auditEntry,
  entriesOf,
  expectedEmitted,
  fanOutMigration,
  fanUser,
  seedFanUsers,
  userKey,
} from './fan-out-fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const total = (n: number) =>
  Array.from({ length: n }, (_, i) => entriesOf(i)).reduce((a, b) => a + b, 0);

onSqliteAndRedis('fan-out', (name, open) => {
  describe(name, () => {
    it('emits one document per element, verify exact, rollback exact (exports byte-identical)', async () => {
      const store = await open();
      try {
        const N = 300;
        await seedFanUsers(store, N);
        const users = await exportText(store, 'users');
        const logs = await exportText(store, 'auditLogs');
        const original = await allDocs(store, 'users');
        const ctx = contextFor(store);
        const m = fanOutMigration();
        const r = await backfill(ctx, m, { batchSize: 40, partitions: 2 });
        expect(r.outcome).toBe('backfilled');
        expect(r.progress).toMatchObject({ migrated: N, errors: 0 });
        const after = await allDocs(store, 'users');
        for (const [k, d] of after) {
          expect(d).not.toHaveProperty('auditLog');
          expect(d).toMatchObject({ _id: k, _sv: 2, name: original.get(k)!.name });
        }
        const emitted = await allDocs(store, 'auditLogs');
        expect(emitted).toEqual(expectedEmitted(original));
        expect(emitted.size).toBe(total(N));

        const v = await verify(ctx, m);
        expect(v).toMatchObject({
          ok: true,
          compared: N,
          mismatched: 0,
          missing: 0,
          emitted: total(N),
        });

        const rb = await rollback(ctx, m, { reason: 'test' });
        expect(rb).toMatchObject({
          outcome: 'rolled-back',
          restored: N,
          conflicts: 0,
          emittedRemoved: total(N),
        });
        expect(await exportText(store, 'users')).toBe(users);
        expect(await exportText(store, 'auditLogs')).toBe(logs);
      } finally {
        await store.close();
      }
    });

    it('verify names what differs in both collections; rollback keeps an edited emitted document as a conflict', async () => {
      const store = await open();
      try {
        await seedFanUsers(store, 20);
        const ctx = contextFor(store);
        const m = fanOutMigration();
        expect((await backfill(ctx, m, { batchSize: 10 })).outcome).toBe('backfilled');
        const logs = store.collection('auditLogs');
        const [edited] = await logs.getMany(['u0001:0']);
        await logs.write([
          { type: 'put', key: 'u0001:0', doc: { ...edited!.doc, action: 'forged' } },
          { type: 'delete', key: 'u0002:1' },
        ]);
        const [u3] = await store.collection('users').getMany(['u0003']);
        await store
          .collection('users')
          .write([{ type: 'put', key: 'u0003', doc: { ...u3!.doc, name: 'renamed by the app' } }]);

        const v = await verify(ctx, m);
        expect(v.ok).toBe(false);
        expect(v.samples.missing).toEqual(['auditLogs/u0002:1']);
        const byKey = new Map(v.samples.mismatched.map((x) => [x.key, x]));
        expect(byKey.get('auditLogs/u0001:0')?.diffs).toEqual([
          expect.objectContaining({ path: '/action', expected: 'login', actual: 'forged' }),
        ]);
        expect(byKey.get('u0003')?.diffs).toEqual([
          expect.objectContaining({ path: '/name', actual: 'renamed by the app' }),
        ]);
        expect(v.paths['auditLogs/action']).toBe(1);

        const rb = await rollback(ctx, m, { reason: 'test' });
        expect(rb.outcome).toBe('rolled-back');
        const conflicts = new Map(rb.conflictSamples.map((c) => [c.key, c.reason]));
        expect(conflicts.get('auditLogs/u0001:0')).toMatch(
          /changed by the application since: kept/,
        );
        expect(conflicts.get('u0003')).toMatch(/changed by the application/);
        expect(rb.conflicts).toBe(2);
        // the users not in conflict are back exactly; the edited emitted document and the
        // conflicting user's emitted documents are kept
        const users = await allDocs(store, 'users');
        for (let i = 0; i < 20; i++) if (i !== 3) expect(users.get(userKey(i))).toEqual(fanUser(i));
        expect([...(await allDocs(store, 'auditLogs')).keys()].sort()).toEqual([
          'u0001:0',
          'u0003:0',
          'u0003:1',
          'u0003:2',
        ]);
      } finally {
        await store.close();
      }
    });

    it('a redone attempt removes what an unfinished earlier attempt wrote and the array no longer has', async () => {
      const store = await open();
      try {
        await seedFanUsers(store, 10);
        const ctx = contextFor(store);
        const m = fanOutMigration();
        // an attempt on u0004 (4 entries) was killed after writing its journal entry and its
        // emitted documents, before writing the user
        const [u4] = await store.collection('users').getMany(['u0004']);
        const { emitted } = m.fanOut!.emit('u0004', u4!.doc);
        expect(emitted).toHaveLength(4);
        await new Journal(store, m.id).record([
          {
            key: 'u0004',
            before: toStorageJSON(u4!.doc),
            afterHash: contentHash(m.up(u4!.doc)),
            emitted: emitted.map((e) => [e.key, contentHash(e.doc)]),
          },
        ]);
        await store
          .collection('auditLogs')
          .write(emitted.map((e) => ({ type: 'put' as const, key: e.key, doc: e.doc })));
        // then the application shrank the array
        const shrunk: Doc = { ...u4!.doc, auditLog: [auditEntry(4, 9)] };
        await store.collection('users').write([{ type: 'put', key: 'u0004', doc: shrunk }]);
        const usersBefore = await exportText(store, 'users');

        expect((await backfill(ctx, m, { batchSize: 4 })).outcome).toBe('backfilled');
        const logs = await allDocs(store, 'auditLogs');
        expect([...logs.keys()].filter((k) => k.startsWith('u0004:'))).toEqual(['u0004:0']);
        expect(logs.get('u0004:0')).toEqual({
          _id: 'u0004:0',
          ...auditEntry(4, 9),
          userId: 'u0004',
          index: 0,
        });
        const [entry] = await new Journal(store, m.id).get(['u0004']);
        expect(entry!.dropped!.map(([k]) => k)).toEqual(['u0004:1', 'u0004:2', 'u0004:3']);
        expect((await verify(ctx, m)).ok).toBe(true);

        await rollback(ctx, m, { reason: 'test' });
        expect(await exportText(store, 'users')).toBe(usersBefore);
        expect(await exportText(store, 'auditLogs')).toBe('');
      } finally {
        await store.close();
      }
    });

    it('a run that dies after writing the emitted documents and before the parents: they were written first; the rerun finishes exactly', async () => {
      const store = await open();
      try {
        await seedFanUsers(store, 10);
        const m = fanOutMigration();
        // the store fails every write to users, as a process killed just before them would
        const failing = new Error('killed before the parents were written');
        const touchesUsers = (b: readonly { collection: string }[]) =>
          b.some((x) => x.collection === 'users');
        const dying = new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'close') return async () => undefined;
            if (prop === 'writeAtomic' && target.writeAtomic !== undefined)
              return (b: Parameters<NonNullable<Store['writeAtomic']>>[0], g?: never) =>
                touchesUsers(b) ? Promise.reject(failing) : target.writeAtomic!(b, g);
            if (prop === 'collection')
              return (name: string) => {
                const c = target.collection(name);
                if (name !== 'users') return c;
                return new Proxy(c, {
                  get: (t, p) =>
                    p === 'write'
                      ? () => Promise.reject(failing)
                      : (Reflect.get(t, p) as unknown) instanceof Function
                        ? (Reflect.get(t, p) as (...a: unknown[]) => unknown).bind(t)
                        : Reflect.get(t, p),
                });
              };
            const v = Reflect.get(target, prop, receiver) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }) as Store;
        await backfill(contextFor(dying, store), m, { batchSize: 100 }).catch(() => undefined);
        // the emitted documents of the batch are there, no user is migrated yet
        expect((await allDocs(store, 'auditLogs')).size).toBeGreaterThan(0);
        expect(
          [...(await allDocs(store, 'users')).values()].every((d) => d._sv === undefined),
        ).toBe(true);
        // the application shrinks u0004's array (it had 4 elements) before the rerun
        const [u4] = await store.collection('users').getMany(['u0004']);
        await store
          .collection('users')
          .write([
            { type: 'put', key: 'u0004', doc: { ...u4!.doc, auditLog: [auditEntry(4, 9)] } },
          ]);
        const usersBefore = await exportText(store, 'users');
        const expected = await allDocs(store, 'users');

        const ctx = contextFor(store);
        expect((await backfill(ctx, m, { batchSize: 100 })).outcome).toBe('backfilled');
        expect(await allDocs(store, 'auditLogs')).toEqual(expectedEmitted(expected));
        expect((await verify(ctx, m)).ok).toBe(true);
        await rollback(ctx, m, { reason: 'test' });
        expect(await exportText(store, 'users')).toBe(usersBefore);
        expect(await exportText(store, 'auditLogs')).toBe('');
      } finally {
        await store.close();
      }
    });

    it('bad documents are dead letters naming the key; a key the migration did not write is not overwritten', async () => {
      const store = await open();
      try {
        await seedFanUsers(store, 10);
        await store.collection('users').write([
          { type: 'put', key: 'u0005', doc: { _id: 'u0005', name: 'x', auditLog: 'not a list' } },
          { type: 'put', key: 'u0006', doc: { _id: 'u0006', name: 'y' } },
        ]);
        const foreign: Doc = { note: 'written by someone else' };
        await store.collection('auditLogs').write([{ type: 'put', key: 'u0003:1', doc: foreign }]);
        const ctx = contextFor(store);
        const m = fanOutMigration();
        const r = await backfill(ctx, m, { batchSize: 4 });
        expect(r.progress).toMatchObject({ migrated: 7, errors: 3 });
        const dead = new Map(
          (await new DeadLetters(store, m.id).list(100)).map((d) => [d.key, d.error]),
        );
        expect([...dead.keys()].sort()).toEqual(['u0003', 'u0005', 'u0006']);
        expect(dead.get('u0005')).toMatch(/fanOut auditLog needs an array, found a string/);
        expect(dead.get('u0006')).toMatch(/fanOut auditLog needs an array, found nothing/);
        expect(dead.get('u0003')).toMatch(/auditLogs\/u0003:1 already holds a document/);
        const logs = await allDocs(store, 'auditLogs');
        expect(logs.get('u0003:1')).toEqual(foreign);
        expect(logs.has('u0003:0')).toBe(false); // nothing of u0003 was written
        expect((await allDocs(store, 'users')).get('u0003')).toEqual(fanUser(3));
      } finally {
        await store.close();
      }
    });

    it('the application writing the users during the run: verify exact, rollback gives back its writes exactly', async () => {
      const store = await open();
      try {
        const N = 600;
        await seedFanUsers(store, N);
        const ctx = contextFor(store);
        const m = fanOutMigration();
        let stop = false;
        /** the application's last acknowledged document per user */
        const last = new Map<string, Doc>();
        const users = store.collection('users');
        const writer = (async () => {
          for (let seq = 0; !stop; seq++) {
            const i = Math.floor(Math.random() * N);
            const [cur] = await users.getMany([userKey(i)]);
            if (cur != null && cur.doc._sv === undefined) {
              const log = cur.doc.auditLog as Doc[];
              // the array grows or shrinks under the backfill
              const doc = {
                ...cur.doc,
                auditLog: seq % 2 === 0 ? [...log, auditEntry(i, 8)] : log.slice(1),
              };
              const [res] = await users.write([
                { type: 'put', key: userKey(i), doc, ifRev: cur.rev },
              ]);
              if (res?.ok) last.set(userKey(i), doc);
            }
            await sleep(1);
          }
        })();
        const r = await backfill(ctx, m, { batchSize: 10, rate: 400 });
        stop = true;
        await writer;
        expect(r.outcome).toBe('backfilled');
        expect(last.size).toBeGreaterThan(10);
        const expected = new Map<string, Doc>(
          Array.from({ length: N }, (_, i) => [userKey(i), last.get(userKey(i)) ?? fanUser(i)]),
        );
        // every element of every user as the application left it, and nothing else
        expect(await allDocs(store, 'auditLogs')).toEqual(expectedEmitted(expected));
        const v = await verify(ctx, m);
        expect(v).toMatchObject({ ok: true, compared: N, mismatched: 0, missing: 0 });

        const rb = await rollback(ctx, m, { reason: 'test' });
        expect(rb).toMatchObject({ outcome: 'rolled-back', restored: N, conflicts: 0 });
        expect(await allDocs(store, 'users')).toEqual(expected);
        expect(await exportText(store, 'auditLogs')).toBe('');
      } finally {
        await store.close();
      }
    });
  });
});
