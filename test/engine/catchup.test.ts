/**
 * Catch-up in process, on real SQLite files: changes made by Switchyard and by plain SQL reach a
 * target on another store as up(source); the backfill may run with the stage off once catch-up
 * has started; a delete that a running backfill copies back is undone once the backfill is done
 * (the interleaving forced step by step); refusals; the lease; the stage rules; dead letters.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toStorageJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import {
  catchup,
  CATCHUP_COLLECTION,
  catchupStarted,
  catchupState,
  recheckCollectionName,
  releaseCatchup,
  type CatchupEvent,
} from '../../src/engine/catchup.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { renameField } from '../../src/migration/index.js';
import type { Collection, ScanOptions, ScanPage, Store } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { allDocs, contextFor, seedUsers, sqliteAt, tempDir, userDoc } from './backfill-fixtures.js';

let dir: string;
let sourceFile: string;
let targetFile: string;
const closing: { close(): unknown }[] = [];

beforeEach(() => {
  dir = tempDir('sy-catchup-');
  sourceFile = path.join(dir, 'source.db');
  targetFile = path.join(dir, 'target.db');
});
afterEach(async () => {
  for (const c of closing.splice(0)) await c.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(file: string): SqliteStore {
  const s = sqliteAt(file);
  closing.push(s);
  return s;
}

/** the application: its own connection to the source file, plain SQL, no revs */
function plainSql(): Database.Database {
  const db = new Database(sourceFile);
  db.pragma('busy_timeout = 10000');
  closing.push(db);
  return db;
}

function sideBySide(extra: { up?: (d: Doc) => Doc | void } = {}): Migration {
  return compileMigration({
    id: 'users-v2',
    collection: 'users',
    target: { collection: 'users_v2', store: `sqlite:${targetFile}` },
    operations: [renameField('name', 'fullName')],
    ...extra,
  });
}

/** target must be exactly up(source): same keys, same documents */
async function expectTargetIsUpOfSource(m: Migration, source: Store): Promise<number> {
  const src = await allDocs(source);
  const target = open(targetFile);
  const tgt = await allDocs(target, 'users_v2');
  const expected = new Map([...src].map(([k, d]) => [k, m.up(d)]));
  expect([...tgt.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [k, d] of expected) expect(tgt.get(k)).toEqual(d);
  return tgt.size;
}

describe('catchup', () => {
  it('carries Switchyard and plain-SQL inserts, updates and deletes to a target on another store, and lets the backfill run with the stage off', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 300);
    const m = sideBySide();
    const ctx = contextFor(source);

    await expect(backfill(ctx, m)).rejects.toThrow(
      /stage is off: .*or catch-up from the source's change feed \(switchyard catchup users-v2\)/,
    );
    const first = await catchup(ctx, m, { mode: 'until-idle' });
    expect(first).toMatchObject({ outcome: 'idle', progress: { changes: 0, applied: 0 } });
    expect(await catchupStarted(source, m.id)).toBe(true);

    const bf = await backfill(ctx, m, { batchSize: 64 });
    expect(bf.outcome).toBe('backfilled');

    const app = plainSql();
    const rename = app.prepare(`UPDATE users SET doc = json_set(doc, '$.name', ?) WHERE k = ?`);
    for (let i = 0; i < 20; i++)
      rename.run(`Renamed${i} Person`, `u${String(i * 7).padStart(6, '0')}`);
    app.prepare(`DELETE FROM users WHERE k IN ('u000001', 'u000002', 'u000003')`).run();
    const ins = app.prepare(`INSERT INTO users (k, doc) VALUES (?, ?)`);
    for (let i = 500; i < 505; i++) ins.run(userDoc(i)._id, toStorageJSON(userDoc(i)));
    await source.collection('users').write([
      { type: 'put', key: 'u000010', doc: { ...userDoc(10), note: 'by switchyard' } },
      { type: 'delete', key: 'u000011' },
    ]);

    const events: CatchupEvent[] = [];
    const r = await catchup(ctx, m, {
      mode: 'until-idle',
      batchSize: 4,
      onEvent: (e) => events.push(e),
    });
    expect(r.outcome).toBe('idle');
    expect(r.progress).toMatchObject({ changes: 30, applied: 26, deleted: 4, errors: 0, lagMs: 0 });
    expect(events.filter((e) => e.type === 'batch').length).toBeGreaterThanOrEqual(8);
    // deleted keys are applied again once no backfill runs (here: at once, the backfill is done)
    expect(await expectTargetIsUpOfSource(m, source)).toBe(300 - 4 + 5);

    // resumable: a new run starts from the saved position, not from now and not from the start
    const saved = (await catchupState(source, m.id))!;
    expect(saved).toMatchObject({ running: false, owner: null, changes: 30 });
    rename.run('Late Change', 'u000100');
    const again = await catchup(ctx, m, { mode: 'once' });
    expect(again.progress.changes).toBe(31);
    expect((await allDocs(open(targetFile), 'users_v2')).get('u000100')).toMatchObject({
      fullName: 'Late Change',
    });
    // progress is mirrored in the catalog entry, start and stop in the audit log
    expect((await ctx.catalog.get(m.id))!.catchup).toMatchObject({ changes: 31, running: false });
    const audit = (await ctx.audit.entries()).filter((e) => e.command === 'catchup');
    expect(audit.map((e) => e.outcome)).toEqual([
      'started',
      'stopped: idle',
      'started',
      'stopped: idle',
      'started',
      'stopped: idle',
    ]);
  });

  it('undoes a delete that a running backfill copied back (the interleaving forced step by step)', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 50);
    const m = sideBySide();
    await catchup(contextFor(source), m, { mode: 'until-idle' });

    // the backfill reads its page, then waits at the gate before writing it (reads before it
    // is backfilling — the schema registry's sample at start — pass)
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let scanned!: () => void;
    const pageRead = new Promise<void>((r) => (scanned = r));
    let gated = false;
    const catalog = contextFor(source).catalog;
    const wrapped = gateScans(source, 'users', async () => {
      if (gated || (await catalog.get(m.id))?.status !== 'backfilling') return;
      gated = true;
      scanned();
      await gate;
    });
    const ctx = contextFor(wrapped, source);
    const running = backfill(ctx, m, { batchSize: 1000, partitions: 1, concurrency: 1 });
    await pageRead;
    expect((await ctx.catalog.get(m.id))!.status).toBe('backfilling');

    // meanwhile the application deletes u000007 (plain SQL) and catch-up applies it: the target
    // has nothing to delete yet, and catch-up notes the key
    plainSql().prepare(`DELETE FROM users WHERE k = 'u000007'`).run();
    const during = await catchup(contextFor(source), m, { mode: 'until-idle' });
    expect(during.progress).toMatchObject({ changes: 1, deleted: 1, pendingRechecks: 1 });
    expect(await source.collection(recheckCollectionName(m.id)).count()).toBe(1);

    // the backfill writes the page it read before the delete: u000007 comes back in the target
    release();
    expect((await running).outcome).toBe('backfilled');
    const target = open(targetFile);
    expect(await target.collection('users_v2').get('u000007')).not.toBeNull(); // the race happened

    // the next catch-up sees the backfill done and applies the noted key again
    const events: CatchupEvent[] = [];
    const after = await catchup(contextFor(source), m, {
      mode: 'until-idle',
      onEvent: (e) => events.push(e),
    });
    expect(events).toContainEqual({ type: 'recheck', keys: 1 });
    expect(after.progress).toMatchObject({ rechecked: 1, pendingRechecks: 0 });
    expect(await target.collection('users_v2').get('u000007')).toBeNull();
    expect(await expectTargetIsUpOfSource(m, source)).toBe(49);
    expect(await source.collection(recheckCollectionName(m.id)).count()).toBe(0);
  });

  it('keeps noted deletes while the backfill is unfinished (killed: status stays backfilling)', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 20);
    const m = sideBySide();
    const ctx = contextFor(source);
    await catchup(ctx, m, { mode: 'until-idle' });
    await ctx.catalog.update(m.id, (e) => ({ ...e, status: 'backfilling' })); // as a killed run leaves it
    await source.collection('users').write([{ type: 'delete', key: 'u000003' }]);
    const r = await catchup(ctx, m, { mode: 'until-idle' });
    expect(r.progress.pendingRechecks).toBe(1);
    expect(r.message).toMatch(/1 deleted keys waiting for the backfill to finish/);
    await catchup(ctx, m, { mode: 'until-idle' });
    expect(await source.collection(recheckCollectionName(m.id)).count()).toBe(1);
    await ctx.catalog.update(m.id, (e) => ({ ...e, status: 'backfilled' }));
    const done = await catchup(ctx, m, { mode: 'until-idle' });
    expect(done.progress).toMatchObject({ rechecked: 1, pendingRechecks: 0 });
  });

  it('refuses in-place migrations, stores without a change feed and stages past shadow, each in the audit log', async () => {
    const source = open(sourceFile);
    const ctx = contextFor(source);
    const inPlace = compileMigration({
      id: 'in-place',
      collection: 'users',
      operations: [renameField('name', 'fullName')],
    });
    await expect(catchup(ctx, inPlace)).rejects.toMatchObject({
      code: 'E_CATCHUP_REFUSED',
      exitCode: 2,
      message: expect.stringMatching(/in-place migration/),
    });

    const memory = new MemoryStore();
    await expect(catchup(contextFor(memory), sideBySide())).rejects.toThrow(
      /the source store \(memory: memory:\) has no change feed/,
    );

    const m = sideBySide();
    for (const [stage, percent] of [[Stage.dualWrite], [Stage.shadow], [Stage.live, 10]] as const)
      await setStage(ctx, m, stage, percent !== undefined ? { percent } : {});
    await expect(catchup(ctx, m, { mode: 'once' })).rejects.toThrow(
      /at stage live: the new side answers/,
    );
    const refused = (await ctx.audit.entries()).filter(
      (e) => e.command === 'catchup' && e.outcome.startsWith('refused:'),
    );
    expect(refused.map((e) => e.outcome)).toEqual([
      expect.stringMatching(/^refused: in-place is an in-place migration/),
      expect.stringMatching(/^refused: migration users-v2 is at stage live/),
    ]);
    expect(await catchupStarted(source, m.id)).toBe(false);
  });

  it('stops when the stage moves past shadow; at complete it releases the feed (the triggers go)', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 10);
    const m = sideBySide();
    const ctx = contextFor(source);
    const ac = new AbortController();
    const following = catchup(ctx, m, { pollMs: 20, signal: ac.signal });
    await waitFor(async () => (await catchupState(source, m.id))?.running === true);
    await setStage(ctx, m, Stage.dualWrite);
    await setStage(ctx, m, Stage.shadow);
    await source.collection('users').write([{ type: 'put', key: 'u000001', doc: userDoc(1) }]);
    await setStage(ctx, m, Stage.live, { percent: 100 });
    const r = await following;
    expect(r.outcome).toBe('stage');
    expect(r.message).toMatch(/at stage live/);
    expect(await catchupStarted(source, m.id)).toBe(true); // kept: a rollback to shadow resumes it

    const triggers = () =>
      source.database
        .prepare(
          `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%sy_chg%'`,
        )
        .pluck()
        .get() as number;
    expect(triggers()).toBe(4);
    await setStage(ctx, m, Stage.rampdown);
    await setStage(ctx, m, Stage.complete);
    const done = await catchup(ctx, m);
    expect(done).toMatchObject({ outcome: 'stage' });
    expect(done.message).toMatch(/released its place in the change feed/);
    expect(triggers()).toBe(0);
    expect(await catchupStarted(source, m.id)).toBe(false);
    await expect(catchup(ctx, m)).rejects.toThrow(/complete: nothing to catch up/);
  });

  it('one process at a time: a second one waits as a standby and takes over; a process whose lease was taken stops (fencing)', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 10);
    const m = sideBySide();
    const ctx = contextFor(source);
    const a = new AbortController();
    const first = catchup(ctx, m, { pollMs: 20, workerId: 'A', signal: a.signal });
    await waitFor(async () => (await catchupState(source, m.id))?.owner === 'A');
    await expect(catchup(ctx, m, { mode: 'until-idle', workerId: 'B' })).rejects.toThrow(
      /is running in A .*run without --once\/--until-idle to wait as a standby/,
    );

    const b = new AbortController();
    const events: CatchupEvent[] = [];
    const second = catchup(ctx, m, {
      pollMs: 20,
      workerId: 'B',
      signal: b.signal,
      onEvent: (e) => events.push(e),
    });
    await waitFor(async () => events.some((e) => e.type === 'standby'));
    a.abort();
    expect((await first).outcome).toBe('stopped');
    await waitFor(async () => (await catchupState(source, m.id))?.owner === 'B');
    expect(events).toContainEqual(expect.objectContaining({ type: 'start', resumed: true }));

    // someone else takes the lease from B behind its back: B's next save conflicts and it stops
    const states = source.collection(CATCHUP_COLLECTION);
    // (conditional, like a real takeover; B may renew its lease meanwhile: read again and retry)
    for (let taken = false; !taken;) {
      const cur = (await states.get(m.id))!;
      const [res] = await states.write([
        {
          type: 'put',
          key: m.id,
          doc: { ...cur.doc, owner: 'C', expiresAt: Date.now() + 60_000 },
          ifRev: cur.rev,
        },
      ]);
      taken = res?.ok === true;
    }
    await source.collection('users').write([{ type: 'put', key: 'u000002', doc: userDoc(2) }]);
    const r = await second;
    expect(r.outcome).toBe('lease-lost');
    expect((await catchupState(source, m.id))!.owner).toBe('C');
  });

  it('sends a document whose up() throws to the dead letters and moves on; --release forgets the position', async () => {
    const source = open(sourceFile);
    await seedUsers(source, 5);
    const m = sideBySide({
      up: (d) => {
        if (d.note === 'poison') throw new Error('poisoned');
      },
    });
    const ctx = contextFor(source);
    await catchup(ctx, m, { mode: 'until-idle' });
    await source.collection('users').write([
      { type: 'put', key: 'u000001', doc: { ...userDoc(1), note: 'poison' } },
      { type: 'put', key: 'u000002', doc: { ...userDoc(2), note: 'fine' } },
    ]);
    const r = await catchup(ctx, m, { mode: 'until-idle' });
    expect(r.progress).toMatchObject({ changes: 2, applied: 1, errors: 1 });
    expect(await source.collection(`_sy_dead_${m.id}`).count()).toBe(1);

    expect(await releaseCatchup(ctx, m)).toBe(true);
    expect(await releaseCatchup(ctx, m)).toBe(false);
    expect(await catchupStarted(source, m.id)).toBe(false);
    // a later catch-up starts from now
    const fresh = await catchup(ctx, m, { mode: 'until-idle' });
    expect(fresh.progress.changes).toBe(0);
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A store whose `collection` scans call `after(page)` before returning the page. */
function gateScans(
  store: Store,
  collection: string,
  after: (page: ScanPage) => Promise<void>,
): Store {
  return {
    kind: store.kind,
    url: store.url,
    collection(name: string): Collection {
      const c = store.collection(name);
      if (name !== collection) return c;
      return new Proxy(c, {
        get(target, prop) {
          if (prop === 'scan')
            return async (o: ScanOptions) => {
              const page = await target.scan(o);
              await after(page);
              return page;
            };
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
    listCollections: (o) => store.listCollections(o),
    dropCollection: (n) => store.dropCollection(n),
    close: async () => undefined,
  };
}
