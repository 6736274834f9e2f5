/**
 * Fallback in live (runtime/fallback.ts): a key the new side answers that it does not have, or
 * fails to read, is answered by the old side and counted; a delete written through the runtime
 * never comes back from the old side, even when the old side missed it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { evaluateGates, parseGates } from '../../src/engine/gates.js';
import { Stage } from '../../src/engine/stages.js';
import { readRuntimeWindow } from '../../src/runtime/counters.js';
import { drainRepairs } from '../../src/runtime/repair-queue.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import type { YardOptions } from '../../src/runtime/yard.js';
import type { Store } from '../../src/store/contract.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import {
  closeAfterEach,
  docsOf,
  fixture,
  moveTo,
  newDoc,
  newStore,
  oldDoc,
  STORE_KINDS,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();
const ALL = Array.from({ length: 60 }, (_, i) => i);

describe.each(STORE_KINDS)('fallback in live on %s', (kind) => {
  /**
   * Users u0..u59 written in dual-write, then live at `percent`. `fail.old` and `fail.new` make
   * every call on that side's collection fail, off until a test turns them on.
   */
  async function setup(percent: number, options: YardOptions = {}) {
    const inner = newStore(kind);
    const failing = (name: string, s: Store) => {
      const x = new FaultyStore(s, { failRate: 1, affects: (n) => n === name });
      x.enabled = false;
      return x;
    };
    const old = failing('users', inner);
    const neu = failing('users_v2', old);
    const fail = { old, new: neu };
    const f = fixture(neu, undefined, inner);
    await moveTo(f, Stage.dualWrite);
    const writer = await yardFor(f);
    for (const i of ALL) await writer.collection('users').put(oldDoc(i));
    await writer.close();
    await moveTo(f, Stage.live, percent);
    const yard = await yardFor(f, { publishMs: 0, ...options });
    open.push({ yard, store: inner });
    const live = ALL.filter((i) => inLivePercent(`u${i}`, f.migration.id, percent));
    const rest = ALL.filter((i) => !live.includes(i));
    return { f, inner, fail, yard, users: yard.collection('users'), live, rest };
  }

  const dropFromTarget = (s: ReturnType<typeof newStore>, is: number[]) =>
    s.collection('users_v2').write(is.map((i) => ({ type: 'delete' as const, key: `u${i}` })));

  it.each([1, 50, 100])(
    'live %s%%: a key the new side lacks is answered by the old side, as stored, and counted',
    async (percent) => {
      const { f, inner, yard, users, live, rest } = await setup(percent);
      const gone = live.slice(0, 3);
      expect(gone.length).toBeGreaterThan(0);
      await dropFromTarget(inner, gone); // never copied, as far as the target knows
      const keys = [...gone, ...live.slice(3, 5), ...rest.slice(0, 2)].map((i) => `u${i}`);
      const want = keys.map((k) => {
        const i = Number(k.slice(1));
        return gone.includes(i) || !live.includes(i) ? oldDoc(i) : newDoc(i);
      });
      expect(await users.getMany([...keys, 'nobody'])).toEqual([...want, null]);
      expect(await users.get(`u${gone[0]}`)).toEqual(oldDoc(gone[0]!));
      expect(await users.get(`u${gone[0]}`, { readAs: 2 })).toEqual(newDoc(gone[0]!));
      await yard.publish();
      const w = await readRuntimeWindow(inner, f.migration.id, 60_000, Date.now() + 1_000);
      expect(w.fallbacks).toBe(gone.length + 2); // an absent key is not a fallback
      expect(await yard.metricsRegistry().metrics()).toContain(
        `switchyard_runtime_fallbacks_total{migration="m-rename",stage="live",reason="missing"} ${gone.length + 2}`,
      );
      const report = evaluateGates(f.migration.id, parseGates('errors<1%'), w, { minSamples: 1 });
      expect(report.checks[0]!.note).toBe(
        `${gone.length + 2} keys answered by the old side (fallback)`,
      );
    },
  );

  it('a failed read on the new side is answered by the old side, counted, and still an error', async () => {
    const { f, inner, fail, yard, users, live } = await setup(100);
    fail.new.enabled = true;
    const keys = live.slice(0, 4).map((i) => `u${i}`);
    expect(await users.getMany([...keys, 'nobody'])).toEqual([
      ...live.slice(0, 4).map((i) => oldDoc(i)),
      null,
    ]);
    await yard.publish();
    const w = await readRuntimeWindow(inner, f.migration.id, 60_000, Date.now() + 1_000);
    expect(w).toMatchObject({ fallbacks: 5, new: { reads: 1, errors: 1 } });
    expect(await yard.metricsRegistry().metrics()).toContain('reason="failed"} 5');

    const strict = await yardFor(f, { fallback: false });
    open.push({ yard: strict });
    await expect(strict.collection('users').get(keys[0]!)).rejects.toThrow(/injected/i);
  });

  it('a delete the old side missed is not resurrected: null until repaired, and after', async () => {
    const { f, inner, fail, users, live } = await setup(100);
    const [a, b] = live.map((i) => `u${i}`);
    fail.old.enabled = true; // the old side refuses: the delete reaches the new side only
    await users.delete(a!);
    fail.old.enabled = false;
    expect(await docsOf(inner, 'users')).toContainEqual(oldDoc(Number(a!.slice(1))));
    expect(await users.get(a!)).toBeNull();
    expect(await users.getMany([a!, b!])).toEqual([null, newDoc(Number(b!.slice(1)))]);
    expect((await users.query({ name: `N${a!.slice(1)}` }, { version: 1 })).length).toBe(0);
    // a delete that reached both sides: null as well
    await users.delete(b!);
    expect(await users.get(b!)).toBeNull();
    // the repair queue catches the old side up; still null
    expect(await drainRepairs(f, f.migration)).toMatchObject({ repaired: 1, failed: 0 });
    expect(await users.get(a!)).toBeNull();
    expect(await docsOf(inner, 'users')).not.toContainEqual(oldDoc(Number(a!.slice(1))));
  });

  it('a failed new-side read fails the call when the old side missed a write of one of its keys', async () => {
    const { fail, users, live } = await setup(100);
    const [a, b] = live.map((i) => `u${i}`);
    fail.old.enabled = true;
    await users.put(newDoc(Number(a!.slice(1)), { fullName: 'changed' })); // old side misses it
    fail.old.enabled = false;
    // now the new side fails: the old side cannot answer for a, and can for b alone
    fail.new.enabled = true;
    await expect(users.getMany([a!, b!])).rejects.toThrow(/injected/i);
    expect(await users.get(b!)).toEqual(oldDoc(Number(b!.slice(1))));
  });

  it('query: keys the new side lacks come from the old side, deletes stay deleted, a failed new side falls back', async () => {
    const { inner, fail, users, live } = await setup(100);
    const [gone, deleted] = live;
    await dropFromTarget(inner, [gone!]);
    // deleted on purpose: the old side's delete "failed" (queued), simulated by putting it back
    await users.delete(`u${deleted}`);
    await inner
      .collection('users')
      .write([{ type: 'put', key: `u${deleted}`, doc: oldDoc(deleted!) }]);
    await inner.collection(`_sy_repair_m-rename`).write([
      {
        type: 'put',
        key: `u${deleted}`,
        doc: { key: `u${deleted}`, op: 'delete', side: 'old', error: 'test', at: 'now' },
      },
    ]);
    const ids = async (q: Promise<{ _id?: unknown }[]>) => (await q).map((d) => d._id).sort();
    const all = ALL.filter((i) => i !== deleted)
      .map((i) => `u${i}`)
      .sort();
    expect(await ids(users.query({}, { version: 1 }))).toEqual(all);
    expect(await users.query({ name: `N${gone}` }, { version: 1 })).toEqual([oldDoc(gone!)]);
    expect(await users.query({ name: `N${deleted}` }, { version: 1 })).toEqual([]);
    // the new side fails: the queue holds an entry for the old side, so the old side cannot answer
    fail.new.enabled = true;
    await expect(users.query({}, { version: 1 })).rejects.toThrow(/injected/i);
    await inner.collection(`_sy_repair_m-rename`).write([{ type: 'delete', key: `u${deleted}` }]);
    await inner.collection('users').write([{ type: 'delete', key: `u${deleted}` }]);
    expect(await ids(users.query({}, { version: 1 }))).toEqual(all);
  });
});

describe('fallback, property', () => {
  /** the document as the old side stores it, version field left out (absent and 1 are the same) */
  const asV1 = (d: Doc | null) => {
    if (d === null) return null;
    const { _sv, ...rest } = d;
    expect(_sv ?? 1).toBe(1);
    return rest;
  };
  const KEYS = ['a', 'b', 'c', 'd'];
  const op = fc.oneof(
    fc.record({ put: fc.constantFrom(...KEYS), n: fc.integer({ min: 0, max: 99 }) }),
    fc.record({ del: fc.constantFrom(...KEYS) }),
    fc.record({ get: fc.constantFrom(...KEYS) }),
  );

  it('with either side failing at random, a read answers the last acknowledged write or fails; never a deleted document', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 10, max: 50 }).map((p) => p / 100),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(op, { minLength: 20, maxLength: 60 }),
        async (percent, failRate, seed, ops) => {
          const inner = new MemoryStore();
          const faulty = new FaultyStore(inner, {
            failRate,
            seed,
            affects: (n) => n === 'users' || n === 'users_v2',
          });
          faulty.enabled = false;
          const f = fixture(faulty, undefined, inner);
          await moveTo(f, Stage.dualWrite);
          const yard = await yardFor(f, { publishMs: 0 });
          const users = yard.collection('users');
          const model = new Map<string, Doc | null>();
          for (const k of KEYS) {
            const d = { _id: k, name: `N${k}`, n: -1 };
            await users.put(d);
            model.set(k, d);
          }
          await moveTo(f, Stage.live, percent);
          await yard.refresh();
          faulty.enabled = true;
          try {
            for (const o of ops) {
              if ('put' in o) {
                const d = { _id: o.put, name: `N${o.put}`, n: o.n };
                if (
                  await users.put(d).then(
                    () => true,
                    () => false,
                  )
                )
                  model.set(o.put, d);
              } else if ('del' in o) {
                if (
                  await users.delete(o.del).then(
                    () => true,
                    () => false,
                  )
                )
                  model.set(o.del, null);
              } else {
                const got = await users.get(o.get, { readAs: 1 }).then(asV1, () => 'failed');
                if (got !== 'failed') expect(got).toEqual(model.get(o.get));
              }
            }
            faulty.enabled = false; // and with the faults gone, every read answers
            for (const k of KEYS)
              expect(asV1(await users.get(k, { readAs: 1 }))).toEqual(model.get(k));
          } finally {
            await yard.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
