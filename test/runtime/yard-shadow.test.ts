import { describe, expect, it } from 'vitest';
import { Stage } from '../../src/engine/stages.js';
import { ABSENT_IN_CANDIDATE } from '../../src/runtime/experiment.js';
import { CandidateTimeoutError } from '../../src/runtime/shadow.js';
import { inLivePercent } from '../../src/runtime/sticky.js';
import type { YardOptions } from '../../src/runtime/yard.js';
import type { Store } from '../../src/store/contract.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import {
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

const N = 20;
const keys = Array.from({ length: N }, (_, i) => `u${i}`);

describe.each(STORE_KINDS)('shadow reads on %s', (kind) => {
  /** N users written in dual-write, then the target tampered with, then `stage` */
  async function setup(
    stage: Stage,
    options: YardOptions = {},
    percent?: number,
    wrap?: (s: Store) => Store,
  ) {
    const inner = newStore(kind);
    const store = wrap ? wrap(inner) : inner;
    const f = fixture(store, undefined, inner);
    await moveTo(f, Stage.dualWrite);
    const writer = await yardFor(f);
    for (let i = 0; i < N; i++) await writer.collection('users').put(oldDoc(i));
    await writer.close();
    const v2 = inner.collection('users_v2');
    await v2.write([
      { type: 'put', key: 'u1', doc: newDoc(1, { fullName: 'tampered' }) },
      { type: 'put', key: 'u2', doc: newDoc(2, { fullName: 'tampered' }) },
      { type: 'put', key: 'u3', doc: newDoc(3, { extra: true }) },
      { type: 'delete', key: 'u4' },
    ]);
    await moveTo(f, stage, percent);
    const yard = await yardFor(f, options);
    open.push({ yard, store: inner });
    return { f, yard, users: yard.collection('users') };
  }

  it('returns the old documents and counts mismatches by path exactly', async () => {
    const { f, yard, users } = await setup(Stage.shadow);
    expect(await users.getMany(keys)).toEqual(keys.map((_, i) => oldDoc(i)));
    expect(await users.get('u1')).toEqual(oldDoc(1));
    await yard.idle();
    const s = yard.stats()[f.migration.id]!;
    expect(s).toMatchObject({ total: N + 1, matched: N + 1 - 5, mismatched: 5, errors: 0 });
    expect(s.byPath).toEqual([
      { name: 'fullName', count: 3 },
      { name: ABSENT_IN_CANDIDATE, count: 1 },
      { name: 'extra', count: 1 },
    ]);
  });

  it('samples reads by sampleRate', async () => {
    let n = 0;
    const { f, yard, users } = await setup(Stage.shadow, {
      sampleRate: 0.5,
      random: () => (n++ % 2) / 2,
    });
    await users.getMany(keys);
    await yard.idle();
    expect(yard.stats()[f.migration.id]!.total).toBe(N / 2);
    const none = await setup(Stage.shadow, { sampleRate: 0 });
    await none.users.getMany(keys);
    await none.yard.idle();
    expect(none.yard.stats()[none.f.migration.id]!.total).toBe(0);
  });

  it('candidate errors and timeouts go to the sink and are counted, never thrown', async () => {
    const sink: string[] = [];
    const { f, yard, users } = await setup(
      Stage.shadow,
      { onCandidateError: (e, { key }) => sink.push(`${key}:${(e as { code?: string }).code}`) },
      undefined,
      (s) => new FaultyStore(s, { failRate: 1, affects: (n) => n === 'users_v2', seed: 3 }),
    );
    // (the set-up's dual-write puts to the target failed too, and were queued for repair)
    expect(await users.get('u0')).toEqual(oldDoc(0));
    await yard.idle();
    expect(sink).toEqual(['u0:E_INJECTED_FAULT']);
    expect(yard.stats()[f.migration.id]).toMatchObject({
      total: 1,
      errors: 1,
      errorRate: 1,
      errorsByKind: [{ name: 'E_INJECTED_FAULT', count: 1 }],
    });

    const slow = await setup(
      Stage.shadow,
      { candidateTimeoutMs: 5, onCandidateError: (e) => sink.push(e.name) },
      undefined,
      (s) => new FaultyStore(s, { latencyMs: 50, affects: (n) => n === 'users_v2' }),
    );
    expect(await slow.users.get('u0')).toEqual(oldDoc(0));
    await slow.yard.idle();
    expect(sink.at(-1)).toBe(CandidateTimeoutError.name);
    expect(slow.yard.stats()[slow.f.migration.id]!.errorsByKind).toEqual([
      { name: 'E_CANDIDATE_TIMEOUT', count: 1 },
    ]);
  });

  it('live: keys outside the percent are compared, keys inside answered by the new side as is', async () => {
    const { f, yard, users } = await setup(Stage.live, {}, 50);
    const docs = await users.getMany(keys);
    const live = keys.filter((k) => inLivePercent(k, f.migration.id, 50));
    keys.forEach((k, i) => {
      if (live.includes(k)) expect(docs[i]?._sv ?? 'absent').not.toBe(1);
      else expect(docs[i]).toEqual(oldDoc(i));
    });
    expect(docs[1]).toEqual(live.includes('u1') ? newDoc(1, { fullName: 'tampered' }) : oldDoc(1));
    await yard.idle();
    expect(yard.stats()[f.migration.id]!.total).toBe(N - live.length);
  });
});
