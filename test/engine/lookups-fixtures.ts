/**
 * What the lookups tests share (issue 16 item 1): `docs` whose `doc_id` names a `docOps`
 * document (two documents per docOps key, every 5th docOps key has no document), the migration
 * that copies `docOps.version` into each document, and a counter of the reads of one collection.
 */
import type { Doc } from '../../src/core/values.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import type { Store } from '../../src/store/contract.js';
import { wrapCollection } from '../support/wrap-collection.js';

export const docKey = (i: number) => `doc${String(i).padStart(4, '0')}`;
/** two documents share each docOps key */
export const opOfDoc = (i: number) => Math.floor(i / 2);
export const docOf = (i: number): Doc => ({
  _id: docKey(i),
  doc_id: `op${opOfDoc(i)}`,
  title: `t${i}`,
});
export const opOf = (j: number): Doc => ({ _id: `op${j}`, version: j * 10 });
/** every 5th docOps key has no document */
export const hasOp = (j: number) => j % 5 !== 0;

/** `n` docs and their docOps documents */
export async function seedDocsAndOps(store: Store, n: number): Promise<void> {
  const docs = Array.from({ length: n }, (_, i) => docOf(i));
  await store
    .collection('docs')
    .write(docs.map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })));
  const ops = Array.from({ length: Math.ceil(n / 2) }, (_, j) => j)
    .filter(hasOp)
    .map(opOf);
  await store
    .collection('docOps')
    .write(ops.map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })));
}

/** The migration file text of `lookupMigration` (for the CLI). */
export const LOOKUP_MIGRATION_FILE = `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'docs',
  lookups: { docOps: { collection: 'docOps', by: 'doc_id' } },
  up: (d, ctx) => {
    d.version = ctx.lookups.docOps?.version ?? null;
  },
  down: (d) => {
    delete d.version;
  },
});
`;

/** `version` copied from the docOps document whose key is `doc_id` (null when none) */
export function lookupMigration(
  extra: { id?: string; target?: { collection: string; store?: string } } = {},
): Migration {
  return compileMigration({
    id: extra.id ?? 'm-lookup',
    collection: 'docs',
    ...(extra.target !== undefined ? { target: extra.target } : {}),
    lookups: { docOps: { collection: 'docOps', by: 'doc_id' } },
    up: (d, ctx) => {
      d.version = (ctx.lookups.docOps?.version as number | undefined) ?? null;
    },
    down: (d) => {
      delete d.version;
    },
  });
}

/** the version a migrated document `i` must have (its docOps document's as seeded) */
export const expectedVersion = (i: number) => (hasOp(opOfDoc(i)) ? opOfDoc(i) * 10 : null);

/** counts the reads of `collection` on `store` from now on */
export function countReads(
  store: Store,
  collection: string,
): { getMany: number; get: number; keys: number } {
  const n = { getMany: 0, get: 0, keys: 0 };
  const orig = store.collection.bind(store);
  (store as { collection: Store['collection'] }).collection = (name: string) => {
    const c = orig(name);
    if (name !== collection) return c;
    return wrapCollection(c, {
      getMany: (ks) => {
        n.getMany += 1;
        n.keys += ks.length;
        return c.getMany(ks);
      },
      get: (k) => {
        n.get += 1;
        return c.get(k);
      },
    });
  };
  return n;
}
