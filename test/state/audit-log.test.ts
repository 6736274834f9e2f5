import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, auditKey } from '../../src/state/audit-log.js';
import { STATE_COLLECTIONS } from '../../src/state/state-collections.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-audit-'));
  file = path.join(dir, 'state.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const open = () => new SqliteStore(file, `sqlite:${file}`);

describe('audit log', () => {
  it('appends a hash chain that verifies', async () => {
    const store = open();
    const log = new AuditLog(store);
    for (let i = 0; i < 5; i++)
      await log.append({
        actor: 'ada',
        command: 'backfill',
        migration: 'm1',
        params: { i },
        outcome: 'ok',
      });
    const entries = await log.entries();
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(await log.verify()).toEqual({ ok: true, entries: 5 });
    expect((await log.entries({ limit: 2 })).map((e) => e.seq)).toEqual([4, 5]);
    await store.close();
  });

  it('editing an entry with plain SQL breaks the chain at that entry', async () => {
    const store = open();
    const log = new AuditLog(store);
    for (let i = 0; i < 4; i++)
      await log.append({ actor: 'ada', command: 'rollback', reason: 'test', outcome: 'ok' });
    store.database
      .prepare(
        `UPDATE ${STATE_COLLECTIONS.audit} SET doc = json_set(doc, '$.actor', 'mallory') WHERE k = ?`,
      )
      .run(auditKey(2));
    const res = await log.verify();
    expect(res.ok).toBe(false);
    expect(res.firstBad).toMatchObject({ seq: 2, problem: expect.stringContaining('edited') });
    await store.close();
  });

  it('removing the newest entry or one in the middle is detected', async () => {
    const store = open();
    const log = new AuditLog(store);
    for (let i = 0; i < 4; i++) await log.append({ actor: 'ada', command: 'x', outcome: 'ok' });
    store.database.prepare(`DELETE FROM ${STATE_COLLECTIONS.audit} WHERE k = ?`).run(auditKey(4));
    expect((await log.verify()).firstBad?.seq).toBe(4);
    store.database.prepare(`DELETE FROM ${STATE_COLLECTIONS.audit} WHERE k = ?`).run(auditKey(2));
    expect((await log.verify()).firstBad?.seq).toBe(2);
    await store.close();
  });

  it('concurrent appenders on separate connections never fork the chain', async () => {
    const a = open();
    const b = open();
    const la = new AuditLog(a);
    const lb = new AuditLog(b);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? la : lb).append({
          actor: `w${i % 2}`,
          command: 'x',
          params: { i },
          outcome: 'ok',
        }),
      ),
    );
    const res = await la.verify();
    expect(res).toEqual({ ok: true, entries: 40 });
    await a.close();
    await b.close();
  });

  it('never stores secrets from connection strings', async () => {
    const store = open();
    const log = new AuditLog(store);
    await log.append({
      actor: 'ada',
      command: 'backfill',
      params: { store: 'redis://app:hunter2@127.0.0.1:6379', nested: ['mongodb://u:pw1@h/db'] },
      reason: 'moving redis://x:hunter3@h',
      outcome: 'failed: cannot connect to redis://app:hunter2@127.0.0.1:6379',
    });
    const raw = JSON.stringify(
      store.database.prepare(`SELECT doc FROM ${STATE_COLLECTIONS.audit}`).all(),
    );
    expect(raw).not.toMatch(/hunter2|hunter3|pw1/);
    expect(await log.verify()).toMatchObject({ ok: true });
    await store.close();
  });
});
