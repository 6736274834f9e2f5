/**
 * Key-schema changes side by side on SQLite (the same scenario as on DynamoDB Local,
 * key-mapping-scenario.ts), so the key mapping is shown store-independent; plus the checks of the
 * mapping itself: not invertible on a key, and up() that forgets to move the key field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Doc } from '../../src/core/values.js';
import { checkedUp } from '../../src/engine/jobs/checked-up.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { KeyMapping } from '../../src/migration/key-mapping.js';
import { allDocs, sqliteAt, tempDir } from './backfill-fixtures.js';
import { runKeyMappingScenario, toNew, toOld } from './key-mapping-scenario.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe('key mapping (target.key)', () => {
  it('SQLite: USER#n -> U#n copied under the application writes with catch-up, verified per pair, runtime to rampdown, rollback, drop-target', async () => {
    dir = tempDir('sy-rekey-');
    const store = sqliteAt(path.join(dir, 'app.db'));
    try {
      await runKeyMappingScenario(
        {
          store,
          put: async (doc: Doc) => {
            await store.collection('users').write([{ type: 'put', key: String(doc.pk), doc }]);
          },
          delete: async (key) => {
            await store.collection('users').write([{ type: 'delete', key }]);
          },
          sourceDocs: () => allDocs(store, 'users'),
          targetDocs: () => allDocs(store, 'users_v2'),
          putTarget: async (key, doc) => {
            await store.collection('users_v2').write([{ type: 'put', key, doc }]);
          },
          deleteTarget: async (key) => {
            await store.collection('users_v2').write([{ type: 'delete', key }]);
          },
        },
        150,
        150,
      );
    } finally {
      await store.close();
    }
  });

  it('refuses a key whose down(up(k)) is not k, one that up() does not map, and a result that keeps the old key field', () => {
    const km = new KeyMapping('m', { up: toNew, down: toOld });
    expect(km.toTarget('USER#1')).toBe('U#1');
    expect(km.toSource('U#1')).toBe('USER#1');
    expect(km.toSource('X1')).toBeUndefined();
    expect(km.problem('USER#1')).toBeUndefined();
    expect(km.problem('ADMIN#1')?.message).toMatch(/not invertible on this key/);
    const thrower = new KeyMapping('m', {
      up: () => {
        throw new Error('boom');
      },
      down: toOld,
    });
    expect(thrower.problem('USER#1')?.message).toMatch(/up\('USER#1'\) threw: boom/);
    expect(new KeyMapping('m', { up: () => '', down: toOld }).problem('a')?.message).toMatch(
      /empty string/,
    );

    const m = compileMigration({
      id: 'rekey',
      collection: 'users',
      target: { collection: 'users_v2', key: { up: toNew, down: toOld } },
      up: (d) => ({ ...d, note: 'forgot the key field' }),
    });
    const r = checkedUp(m, 'USER#1', { pk: 'USER#1', name: 'A' });
    expect(r.ok).toBe(false);
    expect(String((r as { error: Error }).error.message)).toMatch(
      /leaves the key field 'pk' at 'USER#1', but target.key stores 'USER#1' under 'U#1'/,
    );
    const moved = compileMigration({
      id: 'rekey',
      collection: 'users',
      target: { collection: 'users_v2', key: { up: toNew, down: toOld } },
      up: (d) => ({ ...d, pk: toNew(String(d.pk)) }),
    });
    expect(checkedUp(moved, 'USER#1', { pk: 'USER#1' })).toMatchObject({ ok: true });
  });

  it('a bad target.key in a definition is an error naming the field', () => {
    expect(() =>
      compileMigration({
        id: 'rekey',
        collection: 'users',
        // @ts-expect-error: down missing
        target: { collection: 'users_v2', key: { up: toNew } },
      }),
    ).toThrow(/target\.key\.down/);
  });
});
