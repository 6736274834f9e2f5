/**
 * A declaration compileMigration refuses: the error's message and fields as one text, for tests
 * that check it names the file, the field and what is wrong.
 */
import { expect } from 'vitest';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { MigrationDefinition } from '../../src/migration/define-migration.js';

export const REFUSAL_FILE = '/m/x.ts';

export function refusalText(collection: string, def: object): string {
  let err: unknown;
  try {
    compileMigration({ id: 'x', collection, ...def } as MigrationDefinition & { id: string }, {
      file: REFUSAL_FILE,
    });
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  return `${(err as Error).message} ${JSON.stringify(err)}`;
}
