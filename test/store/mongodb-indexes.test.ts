/**
 * MongoDB unique indexes as unique constraints (issue 13 item 13), from `listIndexes` output as
 * MongoDB documents it. No MongoDB server runs here: this checks the reading of the index
 * descriptions only; MongoCollection.uniqueConstraints calling listIndexes is unverified
 * against a server (docs/concepts/unique-fields.md says so).
 */
import { describe, expect, it } from 'vitest';
import { uniqueIndexConstraints } from '../../src/store/mongodb/mongodb-indexes.js';

describe('uniqueIndexConstraints', () => {
  it('unique indexes become constraints; _id_, partial, collated and non-unique ones do not', () => {
    const r = uniqueIndexConstraints(
      [
        { v: 2, key: { _id: 1 }, name: '_id_' },
        { v: 2, key: { email: 1 }, name: 'email_1', unique: true },
        { v: 2, key: { tenant: 1, slug: -1 }, name: 'tenant_1_slug_-1', unique: true },
        { v: 2, key: { created: 1 }, name: 'created_1' },
        {
          v: 2,
          key: { handle: 1 },
          name: 'handle_1',
          unique: true,
          partialFilterExpression: { active: true },
        },
        {
          v: 2,
          key: { login: 1 },
          name: 'login_1',
          unique: true,
          collation: { locale: 'en', strength: 2 },
        },
      ] as never,
      'users',
    );
    expect(r.constraints).toEqual([
      { paths: ['email'], source: "MongoDB unique index 'email_1' of 'users'" },
      {
        paths: ['tenant', 'slug'],
        source: "MongoDB unique index 'tenant_1_slug_-1' of 'users'",
      },
    ]);
    expect(r.notUnique).toEqual([
      "MongoDB unique index 'handle_1' of 'users' (partial: not checked)",
      "MongoDB unique index 'login_1' of 'users' (collation strength 2: not checked)",
    ]);
  });
});
