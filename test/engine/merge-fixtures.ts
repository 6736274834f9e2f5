/**
 * A merge side by side (issue 16 item 3): `users` (the primary source) + `profiles` (joined by
 * key) into `accounts`. Shared by the merge tests.
 */
import { expect } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs } from './backfill-fixtures.js';

export const MERGE_ID = '20261207-merge-accounts';

/** The migration file (plain object: the loader needs no import). */
export const MERGE_MIGRATION_FILE = `export default {
  collection: 'users',
  target: { collection: 'accounts' },
  merge: { profile: { collection: 'profiles' } },
  up: (u, ctx) => ({
    _id: u._id,
    name: u.name,
    email: u.email,
    bio: ctx.lookups.profile?.bio ?? null,
    city: ctx.lookups.profile?.city ?? null,
  }),
  down: (a) => ({ _id: a._id, name: a.name, email: a.email }),
};
`;

export const userKey = (i: number): string => `u${String(i).padStart(6, '0')}`;
export const orphanKey = (i: number): string => `o${String(i).padStart(6, '0')}`;

export function userOf(i: number): Doc {
  return { _id: userKey(i), name: `user ${i}`, email: `u${i}@example.com` };
}
export function profileOf(key: string, i: number): Doc {
  return { _id: key, bio: `bio ${i}`, city: ['Lyon', 'Oslo', 'Lima'][i % 3]! };
}

/** n users; a profile for every user but each fifth; `orphans` profiles without a user. */
export async function seedMerge(store: Store, n: number, orphans: number): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    const idx = Array.from({ length: Math.min(500, n - i) }, (_, j) => i + j);
    await store
      .collection('users')
      .write(idx.map((k) => ({ type: 'put' as const, key: userKey(k), doc: userOf(k) })));
    await store
      .collection('profiles')
      .write(
        idx
          .filter((k) => k % 5 !== 0)
          .map((k) => ({ type: 'put' as const, key: userKey(k), doc: profileOf(userKey(k), k) })),
      );
  }
  if (orphans > 0)
    await store.collection('profiles').write(
      Array.from({ length: orphans }, (_, k) => ({
        type: 'put' as const,
        key: orphanKey(k),
        doc: profileOf(orphanKey(k), k),
      })),
    );
}

/** What the target must hold for a user and its profile (or none). */
export function accountOf(u: Doc, p: Doc | null | undefined): Doc {
  return {
    _id: u._id!,
    name: u.name!,
    email: u.email!,
    bio: p?.bio ?? null,
    city: p?.city ?? null,
    _sv: 2,
  };
}

/**
 * The target holds exactly up(user, profile of now) for every user, and nothing else; returns
 * the number of accounts and of orphan profiles (profiles without a user).
 */
export async function expectMergeExact(store: Store): Promise<{ n: number; orphans: number }> {
  const users = await allDocs(store, 'users');
  const profiles = await allDocs(store, 'profiles');
  const accounts = await allDocs(store, 'accounts');
  expect([...accounts.keys()].sort()).toEqual([...users.keys()].sort());
  const wrong: string[] = [];
  for (const [k, u] of users)
    if (canonicalString(accounts.get(k)!) !== canonicalString(accountOf(u, profiles.get(k))))
      wrong.push(k);
  expect(wrong).toEqual([]);
  return { n: users.size, orphans: [...profiles.keys()].filter((k) => !users.has(k)).length };
}
