/**
 * The repair queue's answer to "may a job copy this key from the old side to the new one?":
 * not while the new side deleted it and the old side still has it, or is about to lose it
 * (RepairQueue.pendingDeletes, dual-write.ts's announced deletes). The in-live backfill must ask
 * it before filling a document missing from the target.
 */
import { describe, expect, it } from 'vitest';
import { Stage } from '../../src/engine/stages.js';
import {
  IN_FLIGHT,
  isPendingDelete,
  RepairQueue,
  repairCollectionName,
  type RepairEntry,
} from '../../src/runtime/repair-queue.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import {
  closeAfterEach,
  docsOf,
  fixture,
  moveTo,
  newStore,
  oldDoc,
  STORE_KINDS,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();

describe('isPendingDelete', () => {
  it('is true only for a delete the old side missed or is about to get', () => {
    const e = (op: 'put' | 'delete', side?: 'old' | 'new') =>
      ({ key: 'k', op, side, error: 'x', at: 'now' }) as RepairEntry;
    expect(isPendingDelete(e('delete', 'old'))).toBe(true);
    expect(isPendingDelete({ ...e('delete', 'old'), error: IN_FLIGHT })).toBe(true);
    expect(isPendingDelete(e('delete', 'new'))).toBe(false);
    expect(isPendingDelete(e('put', 'old'))).toBe(false);
    expect(isPendingDelete(e('put', 'new'))).toBe(false);
    expect(isPendingDelete(e('delete'))).toBe(false); // entries without a side are the new side's
  });
});

describe.each(STORE_KINDS)('pendingDeletes on %s', (kind) => {
  it('names exactly the keys whose entry is a delete the old side has not made', async () => {
    const store = newStore(kind);
    open.push({ store });
    const q = new RepairQueue(store, 'm');
    await q.add({ key: 'a', op: 'delete', side: 'old', error: 'refused' });
    await q.add({ key: 'b', op: 'delete', side: 'new', error: 'refused' });
    await q.add({ key: 'c', op: 'put', side: 'old', error: 'refused' });
    const rev = await q.announceDelete('d');
    expect(await q.pendingDeletes(['a', 'b', 'c', 'd', 'e'])).toEqual(new Set(['a', 'd']));
    expect(await q.pendingDeletes([])).toEqual(new Set());
    expect(await q.remove('d', rev)).toBe(true);
    expect(await q.pendingDeletes(['d'])).toEqual(new Set());
  });

  /** live 100%: every key's delete goes to the new side first; the old side is `users` */
  async function live(oldSide: FaultyStore['options']) {
    const inner = newStore(kind);
    const faulty = new FaultyStore(inner, { ...oldSide, affects: (n) => n === 'users' });
    faulty.enabled = false;
    const f = fixture(faulty, undefined, inner);
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f, { publishMs: 0 });
    open.push({ yard, store: inner });
    const users = yard.collection('users');
    for (let i = 0; i < 4; i++) await users.put(oldDoc(i));
    await moveTo(f, Stage.live, 100);
    await yard.refresh();
    faulty.enabled = true;
    return { f, inner, faulty, users, queue: new RepairQueue(inner, f.migration.id) };
  }

  it('a delete whose old side failed stays pending until drained', async () => {
    const { inner, users, queue } = await live({ failRate: 1 });
    await users.delete('u1');
    expect((await docsOf(inner, 'users_v2')).map((d) => d._id)).toEqual(['u0', 'u2', 'u3']);
    expect((await docsOf(inner, 'users')).map((d) => d._id)).toContain('u1');
    expect(await queue.pendingDeletes(['u0', 'u1', 'u2'])).toEqual(new Set(['u1']));
  });

  it('a delete under way is pending from before the new side loses the document until the old side has lost it too', async () => {
    const { inner, faulty, users, queue } = await live({ latencyMs: 300 });
    expect(inLivePercent('u2', 'm-rename', 100)).toBe(true);
    const deleting = users.delete('u2');
    // poll until the new side has lost it: from then on, the queue must say so
    let seen = 0;
    for (;;) {
      const onNew = await inner.collection('users_v2').get('u2');
      const pending = await queue.pendingDeletes(['u2']);
      const onOld = await inner.collection('users').get('u2');
      if (onNew === null && onOld !== null) {
        expect(pending).toEqual(new Set(['u2']));
        seen++;
      }
      if (onOld === null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await deleting;
    expect(seen).toBeGreaterThan(0);
    faulty.enabled = false;
    expect(await queue.pendingDeletes(['u2'])).toEqual(new Set());
    expect(await docsOf(inner, repairCollectionName('m-rename'))).toEqual([]);
  });
});
