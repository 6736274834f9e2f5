import { describe, expect, it } from 'vitest';
import { Stage } from '../../src/engine/stages.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import {
  drainRepairs,
  repairCollectionName,
  type RepairEntry,
} from '../../src/runtime/repair-queue.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import type { Store } from '../../src/store/contract.js';
import { FaultyStore, InjectedFaultError } from '../../src/store/faulty-store.js';
import {
  docsOf,
  fixture,
  moveTo,
  newDoc,
  newStore,
  oldDoc,
  STORE_KINDS,
  yardFor,
  closeAfterEach,
} from './yard-fixtures.js';

const open = closeAfterEach();

describe.each(STORE_KINDS)('repairs on %s', (kind) => {
  /** the data store fails every call on `failing`; the state store is the healthy inner store */
  async function setup(stage: Stage, failing: string, percent?: number) {
    const inner = newStore(kind);
    const faulty = new FaultyStore(inner, { failRate: 1, affects: (n) => n === failing });
    const f = fixture(faulty, undefined, inner);
    await moveTo(f, stage, percent);
    const yard = await yardFor(f);
    open.push({ yard, store: inner });
    const queued = async () =>
      (await docsOf(inner, repairCollectionName(f.migration.id))) as unknown as RepairEntry[];
    return { f, inner, faulty, yard, users: yard.collection('users'), queued };
  }

  it('dual-write: a failing target never fails the caller, is queued, and drainRepairs fixes it', async () => {
    const { f, inner, faulty, users, queued } = await setup(Stage.dualWrite, 'users_v2');
    await users.put(oldDoc(1));
    await users.put(oldDoc(2));
    expect(await docsOf(inner, 'users')).toEqual([oldDoc(1), oldDoc(2)]);
    expect(await docsOf(inner, 'users_v2')).toEqual([]);
    const q = await queued();
    expect(q.map(({ key, op, side }) => ({ key, op, side }))).toEqual([
      { key: 'u1', op: 'put', side: 'new' },
      { key: 'u2', op: 'put', side: 'new' },
    ]);
    expect(q[0]!.error).toContain('injected');
    expect(Date.parse(q[0]!.at)).toBeGreaterThan(0);

    faulty.enabled = false;
    await inner.collection('users_v2').write([{ type: 'put', key: 'u2', doc: newDoc(2) }]);
    await users.delete('u2'); // target delete succeeds now: the queued put stays, and drains as a delete
    faulty.enabled = true;
    const failing = await drainRepairs(f, f.migration);
    expect(failing).toMatchObject({ repaired: 0, failed: 2 });
    faulty.enabled = false;
    expect(await drainRepairs(f, f.migration)).toEqual({
      repaired: 2,
      failed: 0,
      skipped: 0,
      errors: [],
    });
    expect(await docsOf(inner, 'users_v2')).toEqual([newDoc(1)]);
    expect(await queued()).toEqual([]);
  });

  it('dual-write: a failing target delete is queued and drained', async () => {
    const { f, inner, faulty, users, queued } = await setup(Stage.dualWrite, 'users_v2');
    faulty.enabled = false;
    await users.put(oldDoc(1));
    faulty.enabled = true;
    await users.delete('u1');
    expect(await docsOf(inner, 'users')).toEqual([]);
    expect(await docsOf(inner, 'users_v2')).toEqual([newDoc(1)]);
    expect((await queued()).map((e) => [e.key, e.op])).toEqual([['u1', 'delete']]);
    faulty.enabled = false;
    expect((await drainRepairs(f, f.migration)).repaired).toBe(1);
    expect(await docsOf(inner, 'users_v2')).toEqual([]);
  });

  it('dual-write: up() refusing a document is queued, not thrown', async () => {
    const inner = newStore(kind);
    const m = compileMigration({
      id: 'm-picky',
      collection: 'users',
      target: { collection: 'users_v2' },
      up: (d) => {
        if (d.bad === true) throw new Error('cannot take it');
        return d;
      },
    });
    const f = fixture(inner, m);
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f);
    open.push({ yard, store: inner });
    await yard.collection('users').put(oldDoc(1, { bad: true }));
    expect(await docsOf(inner, 'users')).toEqual([oldDoc(1, { bad: true })]);
    const [e] = (await docsOf(inner, repairCollectionName(m.id))) as unknown as RepairEntry[];
    expect(e).toMatchObject({ key: 'u1', op: 'put', side: 'new' });
    expect(e!.error).toContain('cannot take it');
  });

  it('rampdown: the new side is authoritative (its failure fails the call); a failing old side is queued', async () => {
    const t = await setup(Stage.rampdown, 'users_v2');
    await expect(t.users.put(newDoc(1))).rejects.toBeInstanceOf(InjectedFaultError);
    expect(await docsOf(t.inner, 'users')).toEqual([]);

    const o = await setup(Stage.rampdown, 'users');
    await o.users.put(newDoc(2));
    expect(await docsOf(o.inner, 'users_v2')).toEqual([newDoc(2)]);
    expect(await docsOf(o.inner, 'users')).toEqual([]);
    expect((await o.queued()).map((e) => [e.key, e.side])).toEqual([['u2', 'old']]);
    o.faulty.enabled = false;
    expect((await drainRepairs(o.f, o.f.migration)).repaired).toBe(1);
    expect(await docsOf(o.inner, 'users')).toEqual([oldDoc(2)]); // back at the first version: no version field, as before
  });

  it('live: authority is per key (new for keys in the live percent, old for the others)', async () => {
    const { f, users, queued } = await setup(Stage.live, 'users_v2', 50);
    const keys = Array.from({ length: 40 }, (_, i) => i);
    const inLive = keys.filter((i) => inLivePercent(`u${i}`, f.migration.id, 50));
    expect(inLive.length).toBeGreaterThan(5);
    for (const i of keys) {
      const put = users.put(oldDoc(i));
      if (inLive.includes(i)) await expect(put).rejects.toBeInstanceOf(InjectedFaultError);
      else await expect(put).resolves.toBeUndefined();
    }
    expect((await queued()).length).toBe(keys.length - inLive.length);
  });

  it('drainRepairs keeps entries while the stage does not write both sides', async () => {
    const { f, faulty, users, queued } = await setup(Stage.dualWrite, 'users_v2');
    await users.put(oldDoc(1));
    await moveTo(f, Stage.off);
    faulty.enabled = false;
    expect(await drainRepairs(f, f.migration)).toMatchObject({ repaired: 0, skipped: 1 });
    expect((await queued()).length).toBe(1);
  });

  it('drainRepairs never overwrites a write the application made meanwhile (the entry is kept)', async () => {
    const { f, inner, faulty, users, queued } = await setup(Stage.dualWrite, 'users_v2');
    await users.put(oldDoc(1));
    faulty.enabled = false;
    // the application writes both sides between the drain's read of the target and of the source
    const racing: Store = Object.create(inner) as Store;
    racing.collection = (name) => {
      const c = inner.collection(name);
      if (name !== 'users') return c;
      return Object.assign(Object.create(c) as typeof c, {
        get: async (key: string) => {
          await users.put(oldDoc(1, { late: true }));
          return c.get(key);
        },
      });
    };
    expect(await drainRepairs({ ...f, store: racing }, f.migration)).toMatchObject({
      repaired: 0,
      skipped: 1,
    });
    expect(await docsOf(inner, 'users_v2')).toEqual([newDoc(1, { late: true })]);
    expect((await queued()).length).toBe(1);
  });
});
