import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { InputError } from '../../src/core/errors.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import { connect } from '../../src/runtime/yard.js';
import { Project } from '../../src/project.js';
import { openStore } from '../../src/store/open-store.js';
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

describe.each(STORE_KINDS)('yard on %s', (kind) => {
  async function setup(stage: Stage, percent?: number) {
    const store = newStore(kind);
    const f = fixture(store);
    if (stage !== Stage.off) await moveTo(f, stage, percent);
    const yard = await yardFor(f);
    open.push({ yard, store });
    return { f, store, yard, users: yard.collection('users') };
  }

  // what each side holds after put(u1 in the old shape), and what get answers
  const CASES: [Stage, number | undefined, 'old' | 'new' | 'both', 'old' | 'new'][] = [
    [Stage.off, undefined, 'old', 'old'],
    [Stage.dualWrite, undefined, 'both', 'old'],
    [Stage.shadow, undefined, 'both', 'old'],
    [Stage.live, 100, 'both', 'new'],
    [Stage.rampdown, undefined, 'both', 'new'],
    [Stage.complete, undefined, 'new', 'new'],
  ];
  it.each(CASES)(
    '%s %s: put writes %s, get answers from %s, delete removes',
    async (stage, p, writes, reads) => {
      const { store, users } = await setup(stage, p);
      await users.put(oldDoc(1));
      expect(await docsOf(store, 'users')).toEqual(writes === 'new' ? [] : [oldDoc(1)]);
      expect(await docsOf(store, 'users_v2')).toEqual(writes === 'old' ? [] : [newDoc(1)]);
      expect(await users.get('u1')).toEqual(reads === 'old' ? oldDoc(1) : newDoc(1));
      expect(await users.getMany(['u1', 'nope'])).toEqual([
        reads === 'old' ? oldDoc(1) : newDoc(1),
        null,
      ]);
      await users.delete('u1');
      expect(await docsOf(store, 'users')).toEqual([]);
      expect(await docsOf(store, 'users_v2')).toEqual([]);
    },
  );

  it('rampdown: a put in the new shape is written as is, and down(doc) to the old side', async () => {
    const { store, users } = await setup(Stage.rampdown);
    await users.put(newDoc(2));
    expect(await docsOf(store, 'users_v2')).toEqual([newDoc(2)]);
    expect(await docsOf(store, 'users')).toEqual([oldDoc(2)]); // back at the first version: no version field, as before
  });

  it('readAs casts up or down, and refuses a version the migration does not know', async () => {
    const dual = await setup(Stage.dualWrite);
    await dual.users.put(oldDoc(3));
    expect(await dual.users.get('u3', { readAs: 2 })).toEqual(newDoc(3));
    expect(await dual.users.get('u3', { readAs: 1 })).toEqual(oldDoc(3));
    expect(await dual.users.getMany(['u3', 'x'], { readAs: 2 })).toEqual([newDoc(3), null]);
    await expect(dual.users.get('u3', { readAs: 7 })).rejects.toBeInstanceOf(InputError);
    const ramp = await setup(Stage.rampdown);
    await ramp.users.put(newDoc(4));
    expect(await ramp.users.get('u4', { readAs: 1 })).toEqual(oldDoc(4));
    expect(await ramp.users.get('u4', { readAs: 2 })).toEqual(newDoc(4));
    await expect(ramp.yard.collection('plain').get('a', { readAs: 1 })).resolves.toBeNull();
  });

  it('a collection without a migration is read and written as is', async () => {
    const { store, yard } = await setup(Stage.dualWrite);
    await yard.collection('orders').put({ _id: 'o1', total: 3 });
    expect(await docsOf(store, 'orders')).toEqual([{ _id: 'o1', total: 3 }]);
    expect(await yard.collection('orders').get('o1')).toEqual({ _id: 'o1', total: 3 });
  });

  it('picks up a stage change on refresh(), and by itself every refreshMs', async () => {
    const { f, store, yard, users } = await setup(Stage.off);
    await setStage(f, f.migration, Stage.dualWrite);
    await users.put(oldDoc(1));
    expect(await docsOf(store, 'users_v2')).toEqual([]); // still cached as off
    await yard.refresh();
    expect(yard.stage(f.migration.id).stage).toBe(Stage.dualWrite);
    await users.put(oldDoc(2));
    expect(await docsOf(store, 'users_v2')).toEqual([newDoc(2)]);

    const timed = await yardFor(f, { refreshMs: 10 });
    open.push({ yard: timed });
    await setStage(f, f.migration, Stage.shadow);
    await expect
      .poll(() => timed.stage(f.migration.id).stage, { timeout: 2000 })
      .toBe(Stage.shadow);
  });

  it('live N%: the new side answers a sticky ~N% of keys, the same ones as inLivePercent', async () => {
    const { f, store, yard, users } = await setup(Stage.live, 30);
    const n = 2000;
    const keys = Array.from({ length: n }, (_, i) => `u${i}`);
    await store
      .collection('users')
      .write(keys.map((key, i) => ({ type: 'put' as const, key, doc: oldDoc(i) })));
    await store
      .collection('users_v2')
      .write(keys.map((key, i) => ({ type: 'put' as const, key, doc: newDoc(i) })));
    const fromNew = async () =>
      new Set((await users.getMany(keys)).flatMap((d, i) => (d!._sv === 2 ? [keys[i]!] : [])));
    const at30 = await fromNew();
    expect(at30.size).toBeGreaterThan(n * 0.25);
    expect(at30.size).toBeLessThan(n * 0.35);
    for (const k of keys) expect(at30.has(k)).toBe(inLivePercent(k, f.migration.id, 30));
    expect(await fromNew()).toEqual(at30); // sticky
    for (const k of keys.slice(0, 50)) expect((await users.get(k))!._sv === 2).toBe(at30.has(k));
    await setStage(f, f.migration, Stage.live, { percent: 60 });
    await yard.refresh();
    const at60 = await fromNew();
    expect([...at30].every((k) => at60.has(k))).toBe(true);
    expect(at60.size).toBeGreaterThan(n * 0.55);
    expect(at60.size).toBeLessThan(n * 0.65);
  });

  it.each([
    [Stage.off, undefined],
    [Stage.dualWrite, undefined],
    [Stage.shadow, undefined],
    [Stage.live, 50],
    [Stage.rampdown, undefined],
    [Stage.complete, undefined],
  ] as [Stage, number | undefined][])(
    'query in %s %s: the side answering reads, filters at either version, cast with readAs',
    async (stage, percent) => {
      const { f, yard, users } = await setup(Stage.dualWrite);
      for (let i = 0; i < 12; i++)
        await users.put(oldDoc(i, { city: i % 3 === 0 ? 'Lyon' : 'Nice' }));
      if (stage !== Stage.dualWrite) {
        await moveTo(f, stage, percent);
        await yard.refresh();
      }
      const lyon = ['u0', 'u3', 'u6', 'u9'];
      const keys = (docs: Doc[]) => docs.map((d) => d._id).sort();
      expect(keys(await users.query({ city: 'Lyon' }))).toEqual(lyon);
      // the old field name, at version 1, and the new one, at version 2, whatever the stage
      expect(keys(await users.query({ name: 'N3' }, { version: 1 }))).toEqual(['u3']);
      if (stage !== Stage.off)
        expect(keys(await users.query({ fullName: 'N3' }, { version: 2 }))).toEqual(['u3']);
      const asV1 = await users.query({ city: 'Lyon' }, { readAs: 1, limit: 2 });
      expect(asV1).toHaveLength(2);
      for (const d of asV1) expect(d.name).toMatch(/^N/);
      // what get() answers for a key is what query() answers for it
      for (const d of await users.query({ city: 'Nice' }))
        expect(await users.get(d._id as string)).toEqual(d);
    },
  );
});

describe('connect', () => {
  it('opens the project from a store URL and a migrations directory, and the target store by URL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-connect-'));
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261121-v2.mjs'),
      `export default {
        collection: 'users',
        target: { collection: 'users_v2', store: 'sqlite:./target.db' },
        up: (d) => { d.fullName = d.name; delete d.name; return d; },
        down: (d) => { d.name = d.fullName; delete d.fullName; return d; },
      };\n`,
    );
    const opts = { store: 'sqlite:./app.db', migrationsDir: './migrations', cwd: dir };
    const project = await Project.open(opts);
    await setStage(project, await project.migration('20261121-v2'), Stage.dualWrite);
    const yard = await connect({ ...opts, refreshMs: 0 });
    await yard.collection('users').put(oldDoc(1));
    await yard.close();
    const target = await openStore('sqlite:./target.db', { baseDir: dir });
    expect(await docsOf(target, 'users_v2')).toEqual([newDoc(1)]);
    expect(await docsOf(project.store, 'users')).toEqual([oldDoc(1)]);
    await target.close();
    await project.close();
  });
});
