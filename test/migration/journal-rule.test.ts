/**
 * `--no-journal` only for provably exact migrations: a hand-written inverse (custom down(),
 * mapValue with an inverse function) is refused like a lossy step, before anything is written.
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { backfill } from '../../src/engine/backfill.js';
import { whyJournalNeeded } from '../../src/migration/journal-rule.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { lowercase, mapValue, renameField } from '../../src/migration/index.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { allDocs, contextFor, seedUsers } from '../engine/backfill-fixtures.js';

const exact = compileMigration({
  id: 'm-exact',
  collection: 'users',
  operations: [renameField('note', 'remark')],
});
const customDown = compileMigration({
  id: 'm-custom',
  collection: 'users',
  up: (d) => ({ ...d, n: (d.n as number) * 2 }),
  down: (d) => ({ ...d, n: (d.n as number) / 2 }),
});
const userInverse = compileMigration({
  id: 'm-map',
  collection: 'users',
  operations: [
    renameField('note', 'remark'),
    mapValue(
      'n',
      (v) => (v as number) * 100,
      (v) => (v as number) / 100,
    ),
  ],
});
const lossy = compileMigration({
  id: 'm-lossy',
  collection: 'users',
  operations: [lowercase('email')],
});
const sideBySide = compileMigration({
  id: 'm-sbs',
  collection: 'users',
  up: (d) => d,
  target: { collection: 'users_v2' },
});

describe('whyJournalNeeded', () => {
  it('allows only provably exact migrations (and side by side, where nothing is journaled)', () => {
    expect(whyJournalNeeded(exact)).toBeUndefined();
    expect(whyJournalNeeded(sideBySide)).toBeUndefined();
    expect(whyJournalNeeded(lossy)).toMatch(
      /needs an exactly invertible migration, and m-lossy is not: lower-case 'email'/,
    );
    expect(whyJournalNeeded(customDown)).toMatch(
      /needs a provably exact migration, and the inverse of m-custom is written by hand \(the custom down\(\)\): plan checks it on a sample, nothing proves it/,
    );
    expect(whyJournalNeeded(userInverse)).toMatch(/written by hand \(map 'n' with a function\)/);
  });

  it.each([
    ['a custom down()', customDown],
    ['mapValue with an inverse function', userInverse],
  ])('backfill --no-journal of %s is refused before anything is written', async (_n, m) => {
    const store = new MemoryStore();
    await seedUsers(store, 10);
    const err = await backfill(contextFor(store), m, { journal: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { exitCode: number }).exitCode).toBe(ExitCode.usage);
    expect((err as { field: string }).field).toBe('--no-journal');
    expect((err as Error).message).toMatch(/written by hand/);
    expect([...(await allDocs(store)).values()].every((d) => d._sv === undefined)).toBe(true);
    // (the refusal is audited in the catalog's store; the data was not touched)
  });

  it('a provably exact migration still runs without the journal', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 10);
    const r = await backfill(contextFor(store), exact, { journal: false });
    expect(r.outcome).toBe('backfilled');
    expect(await store.listCollections({ includeReserved: true })).not.toContain(
      '_sy_journal_m-exact',
    );
  });
});
