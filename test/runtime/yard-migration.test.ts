/**
 * yard.migration(): the runtime around the application's own read/write functions. The
 * "application" here keeps each side in a Map behind async functions and logs every call, so
 * the order and the authority of each stage are observed, not assumed.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { Stage } from '../../src/engine/stages.js';
import { renameField } from '../../src/migration/index.js';
import type { MigrationFunctions } from '../../src/runtime/app-migration.js';
import { readRuntimeWindow } from '../../src/runtime/counters.js';
import { repairCollectionName } from '../../src/runtime/repair-queue.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import {
  closeAfterEach,
  docsOf,
  fixture,
  moveTo,
  newDoc,
  newStore,
  oldDoc,
  renameMigration,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();

/** An application's data layer: two maps behind async functions, every call logged. */
function appSides() {
  const old = new Map<string, Doc>();
  const neu = new Map<string, Doc>();
  const log: string[] = [];
  const failing = { writeNew: false };
  const copy = (d: Doc | undefined) => (d === undefined ? null : structuredClone(d));
  const fns: MigrationFunctions = {
    readOld: async (k) => (log.push(`readOld ${k}`), copy(old.get(k))),
    readNew: async (k) => (log.push(`readNew ${k}`), copy(neu.get(k))),
    writeOld: async (k, d) => {
      log.push(`writeOld ${k}`);
      old.set(k, structuredClone(d));
    },
    writeNew: async (k, d) => {
      log.push(`writeNew ${k}`);
      if (failing.writeNew) throw new Error('new database down');
      neu.set(k, structuredClone(d));
    },
    deleteOld: async (k) => (log.push(`deleteOld ${k}`), old.delete(k)),
    deleteNew: async (k) => (log.push(`deleteNew ${k}`), neu.delete(k)),
  };
  return { old, neu, log, fns, failing };
}

async function setup(stage: Stage, percent?: number) {
  const store = newStore('sqlite');
  const f = fixture(store);
  await moveTo(f, stage, percent);
  const yard = await yardFor(f, { publishMs: 0, rechecks: 0 });
  open.push({ yard, store });
  const app = appSides();
  const users = await yard.migration(f.migration.id, app.fns);
  return { f, store, yard, users, ...app };
}

/** the app's calls made by one runtime call, without the reads the ordering makes */
const writes = (log: string[]) => log.filter((l) => !l.startsWith('read'));

describe('yard.migration around the application functions', () => {
  it('dual-write: old first, then new with up(doc); reads from old only', async () => {
    const { users, old, neu, log } = await setup(Stage.dualWrite);
    await users.put(oldDoc(1));
    expect(writes(log)).toEqual(['writeOld u1', 'writeNew u1']);
    expect(old.get('u1')).toEqual(oldDoc(1));
    expect(neu.get('u1')).toEqual(newDoc(1));
    log.length = 0;
    expect(await users.get('u1')).toEqual(oldDoc(1));
    expect(log).toEqual(['readOld u1']);
    log.length = 0;
    await users.delete('u1');
    expect(writes(log)).toEqual(['deleteOld u1', 'deleteNew u1']);
    expect([old.size, neu.size]).toEqual([0, 0]);
  });

  it('shadow: old answers, readNew is compared in the background and mismatches counted by path', async () => {
    const { yard, users, neu, log } = await setup(Stage.shadow);
    for (let i = 0; i < 4; i++) await users.put(oldDoc(i));
    neu.set('u2', { ...newDoc(2), fullName: 'tampered' });
    log.length = 0;
    expect(await users.getMany(['u0', 'u1', 'u2', 'u3'])).toEqual(
      [0, 1, 2, 3].map((i) => oldDoc(i)),
    );
    await yard.idle();
    expect(log.filter((l) => l.startsWith('readNew'))).toHaveLength(4);
    const s = yard.stats()['m-rename']!;
    expect(s).toMatchObject({ matched: 3, mismatched: 1 });
    expect(s.byPath).toEqual([{ name: 'fullName', count: 1 }]);
  });

  it('live 50%: the new side answers and leads the writes for exactly the sticky keys', async () => {
    const { users, log, f } = await setup(Stage.live, 50);
    const keys = Array.from({ length: 40 }, (_, i) => `u${i}`);
    for (const k of keys) await users.put({ _id: k, name: k });
    const live = keys.filter((k) => inLivePercent(k, f.migration.id, 50));
    expect(live.length).toBeGreaterThan(5);
    expect(live.length).toBeLessThan(35);
    for (const k of keys) {
      const own = writes(log).filter((l) => l.endsWith(` ${k}`));
      expect(own).toEqual(
        live.includes(k) ? [`writeNew ${k}`, `writeOld ${k}`] : [`writeOld ${k}`, `writeNew ${k}`],
      );
    }
    log.length = 0;
    for (const k of keys)
      expect(await users.get(k, { readAs: 1 })).toMatchObject({ _id: k, name: k });
    for (const k of live) expect(log).toContain(`readNew ${k}`);
    for (const k of keys.filter((x) => !live.includes(x))) expect(log).toContain(`readOld ${k}`);
  });

  it('rampdown: new first; complete: new only; reads from new, cast with readAs', async () => {
    const { f, yard, users, old, neu, log } = await setup(Stage.rampdown);
    await users.put(oldDoc(1)); // existing code keeps writing the old shape
    expect(writes(log)).toEqual(['writeNew u1', 'writeOld u1']);
    expect(neu.get('u1')).toEqual(newDoc(1));
    expect(old.get('u1')).toMatchObject({ _id: 'u1', name: 'N1' });
    expect(await users.get('u1', { readAs: 1 })).toMatchObject({ _id: 'u1', name: 'N1' });
    await moveTo(f, Stage.complete);
    await yard.refresh();
    log.length = 0;
    await users.put(oldDoc(2));
    expect(writes(log)).toEqual(['writeNew u2']);
    expect(await users.get('u2')).toEqual(newDoc(2));
  });

  it('a failing writeNew never fails the call: queued, counted, and repair() fixes it through the functions', async () => {
    const { f, store, yard, users, neu, failing } = await setup(Stage.dualWrite);
    failing.writeNew = true;
    await users.put(oldDoc(1));
    await users.put(oldDoc(2));
    expect(neu.size).toBe(0);
    expect(await docsOf(store, repairCollectionName(f.migration.id))).toHaveLength(2);
    await yard.publish();
    const w = await readRuntimeWindow(store, f.migration.id, 60_000);
    expect(w.new).toMatchObject({ writes: 2, errors: 2 });
    expect(w.old).toMatchObject({ writes: 2, errors: 0 });
    expect(w.repairsPending).toBe(2);
    failing.writeNew = false;
    expect(await users.repair()).toMatchObject({ repaired: 2, failed: 0 });
    expect([...neu.values()]).toEqual([newDoc(1), newDoc(2)]);
  });

  it('counts into the same counters as yard.collection of the same migration: one sample per publish', async () => {
    const { f, store, yard, users } = await setup(Stage.dualWrite);
    await users.put(oldDoc(1));
    await yard.collection('users').put(oldDoc(2));
    await yard.publish();
    const samples = await docsOf(store, `_sy_runtime_${f.migration.id}`);
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ old: { writes: 2 }, new: { writes: 2 } });
    expect(await yard.migration(f.migration.id, appSides().fns)).toBe(users);
  });

  it('an inline migration (not in the project) follows its stage from the catalog', async () => {
    const store = newStore('memory');
    const f = fixture(store);
    const yard = await yardFor(f, { publishMs: 0 });
    open.push({ yard, store });
    const inline = {
      collection: 'accounts',
      target: { collection: 'accounts_v2' },
      operations: [renameField('name', 'fullName')],
    };
    const g = fixture(store, renameMigration());
    const app = appSides();
    const accounts = await yard.migration('acc-v2', { ...app.fns, migration: inline });
    await accounts.put({ _id: 'a1', name: 'x' });
    expect(writes(app.log)).toEqual(['writeOld a1']); // off: the old side only
    const m = (await import('../../src/migration/load-migrations.js')).compileMigration({
      ...inline,
      id: 'acc-v2',
    });
    await moveTo({ ...g, migration: m, migrations: async () => [m] }, Stage.dualWrite);
    await yard.refresh();
    await accounts.put({ _id: 'a2', name: 'y' });
    expect(app.neu.get('a2')).toEqual({ _id: 'a2', fullName: 'y', _sv: 2 });
  });

  it('bad input names what is wrong', async () => {
    const { yard } = await setup(Stage.off);
    const { fns } = appSides();
    await expect(yard.migration('nope', fns)).rejects.toThrow(/no migration 'nope'/);
    await expect(
      yard.migration('nope', fns).catch((e: unknown) => e instanceof InputError),
    ).resolves.toBe(true);
    const { readNew: _, ...missing } = fns;
    const inline = { collection: 'a', target: { collection: 'b' }, operations: [] };
    await expect(
      yard.migration('other', { ...(missing as MigrationFunctions), migration: inline }),
    ).rejects.toThrow(/needs a function readNew/);
    await expect(
      yard.migration('inplace', {
        ...fns,
        migration: { collection: 'x', operations: [renameField('a', 'b')] },
      }),
    ).rejects.toThrow(/in-place migration/);
  });
});
