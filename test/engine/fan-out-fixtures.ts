/**
 * What the fan-out tests share (issue 16 item 2): `users` whose `auditLog[]` (0 to 4 entries)
 * moves into `auditLogs`, one document per entry keyed `<userId>:<index>` with `userId`, and the
 * migration that does it (compiled, and as a file for the CLI).
 */
import type { Doc } from '../../src/core/values.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import type { Store } from '../../src/store/contract.js';

export const userKey = (i: number) => `u${String(i).padStart(4, '0')}`;
/** user i has i % 5 audit entries (some have none: an empty array) */
export const entriesOf = (i: number) => i % 5;
export const auditEntry = (i: number, j: number): Doc => ({
  at: `2026-01-0${1 + (j % 9)}T00:00:0${j}Z`,
  action: j % 2 === 0 ? 'login' : 'edit',
  detail: { by: `u${i}`, n: j },
});
export const fanUser = (i: number): Doc => ({
  _id: userKey(i),
  name: `user ${i}`,
  auditLog: Array.from({ length: entriesOf(i) }, (_, j) => auditEntry(i, j)),
});

export async function seedFanUsers(store: Store, n: number, from = 0): Promise<void> {
  const docs = Array.from({ length: n }, (_, k) => fanUser(from + k));
  for (let i = 0; i < docs.length; i += 500)
    await store
      .collection('users')
      .write(
        docs.slice(i, i + 500).map((d) => ({ type: 'put' as const, key: d._id as string, doc: d })),
      );
}

export const FAN_OUT = { path: 'auditLog', into: 'auditLogs', parentField: 'userId' } as const;

export function fanOutMigration(id = 'm-fanout'): Migration {
  return compileMigration({ id, collection: 'users', fanOut: { ...FAN_OUT } });
}

/** The migration file text of `fanOutMigration` (for the CLI). */
export const FAN_OUT_MIGRATION_FILE = `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'users',
  fanOut: { path: 'auditLog', into: 'auditLogs', parentField: 'userId' },
});
`;

/** the documents `auditLogs` must hold once the users `docs` (as they were before) are migrated */
export function expectedEmitted(docs: Iterable<[string, Doc]>): Map<string, Doc> {
  const out = new Map<string, Doc>();
  for (const [key, d] of docs)
    (d.auditLog as Doc[]).forEach((e, index) =>
      out.set(`${key}:${index}`, { _id: `${key}:${index}`, ...e, userId: key, index }),
    );
  return out;
}
