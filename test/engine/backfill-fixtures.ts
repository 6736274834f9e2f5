/** Shared set-up for backfill tests: a store with generated users and a project-like context. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { backfill, type BackfillContext } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { lowercase, removeField, splitField } from '../../src/migration/index.js';
import { AuditLog } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Collection, Store } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';

export function tempDir(prefix = 'sy-bf-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function userDoc(i: number): Doc {
  return {
    _id: `u${String(i).padStart(6, '0')}`,
    name: `First${i} Last${i}`,
    email: `User${i}@Example.COM`,
    note: 'initial',
    n: i,
  };
}

export async function seedUsers(store: Store, n: number, collection = 'users'): Promise<void> {
  const c = store.collection(collection);
  for (let i = 0; i < n; i += 1000) {
    const docs = Array.from({ length: Math.min(1000, n - i) }, (_, j) => userDoc(i + j));
    await c.write(docs.map((doc) => ({ type: 'put' as const, key: doc._id as string, doc })));
  }
}

/** split-name + lowercase email: lossy (lowercase), so rollback needs the journal. */
export function splitNameMigration(): Migration {
  return compileMigration({
    id: 'm-split',
    collection: 'users',
    operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
  });
}

/** splitNameMigration as a file, `<dir>/migrations/20261120-split.mjs`, for tests that run the CLI. */
export function writeSplitMigrationFile(dir: string): void {
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(
    path.join(dir, 'migrations', '20261120-split.mjs'),
    `import { defineMigration, splitField, lowercase } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
});
`,
  );
}

export function removeNoteMigration(): Migration {
  return compileMigration({
    id: 'm-remove',
    collection: 'users',
    operations: [removeField('note')],
  });
}

/** the expected result of splitNameMigration on userDoc(i), with a given note */
export function expectedSplit(i: number, note = 'initial'): Doc {
  return {
    _id: `u${String(i).padStart(6, '0')}`,
    email: `user${i}@example.com`,
    note,
    n: i,
    first: `First${i}`,
    last: `Last${i}`,
    _sv: 2,
  };
}

export function sqliteAt(file: string): SqliteStore {
  return new SqliteStore(file, `sqlite:${file}`);
}

export function contextFor(
  store: Store,
  stateStore: Store = store,
  actor = 'test',
): BackfillContext {
  return {
    store,
    stateStore,
    catalog: new Catalog(stateStore),
    audit: new AuditLog(stateStore),
    actor,
  };
}

export async function allDocs(store: Store, collection = 'users'): Promise<Map<string, Doc>> {
  const out = new Map<string, Doc>();
  let cursor: string | null = null;
  do {
    const page = await store.collection(collection).scan({ cursor, limit: 1000 });
    for (const s of page.items) out.set(s.key, s.doc);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

/**
 * `store` as the engine sees it, with one method of one of its collections replaced:
 * `replace(original)` gives the new method (`original` is the real collection). Everything else
 * is the store's own; closing it does not close `store`.
 */
export function overriding<K extends keyof Collection>(
  store: Store,
  collection: string,
  method: K,
  replace: (original: Collection) => NonNullable<Collection[K]>,
): Store {
  const wrap = (c: Collection): Collection => {
    const replaced = replace(c);
    return new Proxy(c, {
      get: (target, prop, receiver) => (prop === method ? replaced : bound(target, prop, receiver)),
    });
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'close') return async () => undefined;
      if (prop !== 'collection') return bound(target, prop, receiver);
      return (name: string) =>
        name === collection ? wrap(target.collection(name)) : target.collection(name);
    },
  });
}

function bound(target: object, prop: string | symbol, receiver: unknown): unknown {
  const v = Reflect.get(target, prop, receiver) as unknown;
  return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
}

/**
 * A project directory's migrations/ with splitNameMigration as a file the CLI loads
 * (20261120-split-name.ts), for tests that run the commands.
 */
export function writeSplitNameMigration(dir: string): void {
  fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'migrations', '20261120-split-name.ts'),
    `import { defineMigration, splitField, lowercase } from 'switchyard';
export default defineMigration({
  collection: 'users',
  from: 1,
  to: 2,
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
});
`,
  );
}

/** A SQLite store in `dir` with `n` users, splitNameMigration backfilled (journal kept). */
export async function backfilledSqlite(
  dir: string,
  n: number,
): Promise<{ store: SqliteStore; ctx: BackfillContext; m: Migration }> {
  const store = sqliteAt(path.join(dir, 'backfilled.db'));
  await seedUsers(store, n);
  const ctx = contextFor(store);
  const m = splitNameMigration();
  const r = await backfill(ctx, m, { batchSize: 100 });
  if (r.outcome !== 'backfilled') throw new Error(`fixture backfill: ${r.message}`);
  return { store, ctx, m };
}

/** a collection as text, one `key canonical-document` line per document in key order */
export async function exportText(store: Store, collection: string): Promise<string> {
  const docs = await allDocs(store, collection);
  return [...docs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, d]) => `${k} ${canonicalString(d)}`)
    .join('\n');
}
