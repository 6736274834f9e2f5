/**
 * The demo's directory: what it contains, how a previous demo directory is recognised (a marker
 * file) and the config and migration files it writes — real files the user can read and reuse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../core/errors.js';

export const DEMO_MARKER = '.switchyard-demo';
export const DEMO_DB = 'demo.db';
export const DEMO_USERS_FILE = 'users.ndjson';
export const DEMO_MIGRATION_NAME = 'split-name';

/**
 * Whether `dir` can hold a demo: absent, empty, or a previous demo's directory (it has the
 * marker). Anything else is refused with a UsageError, before anything is changed.
 */
export function checkDemoDir(dir: string): 'absent' | 'empty' | 'previous-demo' {
  if (!fs.existsSync(dir)) return 'absent';
  if (!fs.statSync(dir).isDirectory())
    throw new UsageError(`${dir} exists and is not a directory; choose another --dir`, {
      field: '--dir',
    });
  if (fs.readdirSync(dir).length === 0) return 'empty';
  if (fs.existsSync(path.join(dir, DEMO_MARKER))) return 'previous-demo';
  throw new UsageError(
    `${dir} is not empty and was not made by switchyard demo; nothing was changed. Choose another --dir, or empty it`,
    { field: '--dir' },
  );
}

/**
 * Make `dir` ready for a demo: create it, or wipe and recreate it when it is a previous demo's
 * directory. Any other non-empty directory is refused (see checkDemoDir) and left alone.
 * Returns whether a previous demo directory was wiped.
 */
export function prepareDemoDir(dir: string): { reused: boolean } {
  const state = checkDemoDir(dir);
  if (state === 'previous-demo') fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, DEMO_MARKER),
    'Made by `switchyard demo`. The next demo run with this --dir deletes this directory and starts again.\n',
  );
  return { reused: state === 'previous-demo' };
}

export const DEMO_CONFIG = `import { defineConfig } from 'switchyard';

// Written by \`switchyard demo\`. Run switchyard commands from this directory and they use
// this store (relative sqlite paths are resolved from the working directory).
export default defineConfig({
  store: 'sqlite:./${DEMO_DB}',
  migrationsDir: './migrations',
});
`;

export function demoMigration(id: string): string {
  return `import { defineMigration, lowercase, renameField, splitField } from 'switchyard';

/**
 * ${id}: written by \`switchyard demo\`.
 *
 * - name 'Mary Ann Smith' becomes first 'Mary', last 'Ann Smith' (the rest goes to the last
 *   field; a single name like 'Cher' gives only first). Exact: joining gives the name back.
 * - email is lower-cased. LOSSY: 'Ada@Example.com' and 'ada@example.com' both become
 *   'ada@example.com', so the backfill keeps every before-image in the undo journal and the
 *   rollback restores them from there.
 * - address.zip is renamed address.postalCode. Exact.
 */
export default defineMigration({
  collection: 'users',
  from: 1,
  to: 2,
  operations: [
    splitField('name', ['first', 'last'], ' '),
    lowercase('email'),
    renameField('address.zip', 'address.postalCode'),
  ],
  verify: {
    invariants: [
      (d) => (typeof d.first === 'string' && d.first.length > 0) || 'first is empty',
      (d) => d.email === String(d.email).toLowerCase() || 'email has capitals',
      (d) => d.address === undefined || 'postalCode' in (d.address as object) || 'no postalCode',
    ],
  },
});
`;
}

/** yyyymmdd of today (UTC), as \`switchyard create\` names migrations. */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10).replace(/-/g, '');
}
