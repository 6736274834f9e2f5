import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setPaused } from '../../src/engine/runner/control.js';
import { backfilledSqlite, contextFor, sqliteAt, tempDir } from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-control-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('setPaused: the resume refusal lives in the engine (CLI and dashboard call it)', () => {
  it('refuses to resume a backfill that is not paused (E_CONTROL_REFUSED), audited, nothing changed', async () => {
    const { store, ctx } = await backfilledSqlite(dir, 50);
    try {
      const before = (await ctx.catalog.get('m-split'))!;
      await expect(setPaused(ctx, 'm-split', false, 'try')).rejects.toMatchObject({
        code: 'E_CONTROL_REFUSED',
        exitCode: 2,
        message: 'migration m-split is backfilled, not paused: there is nothing to resume',
      });
      expect((await ctx.catalog.get('m-split'))!.updatedAt).toBe(before.updatedAt);
      expect((await ctx.audit.entries({ limit: 1 }))[0]).toMatchObject({
        command: 'resume',
        reason: 'try',
        outcome: 'refused: migration m-split is backfilled, not paused: there is nothing to resume',
      });
    } finally {
      await store.close();
    }
  });

  it('refuses to resume (or pause) a migration that has not started, audited', async () => {
    const store = sqliteAt(path.join(dir, 'b.db'));
    try {
      const ctx = contextFor(store);
      await expect(setPaused(ctx, 'never', false)).rejects.toMatchObject({
        code: 'E_CONTROL_REFUSED',
        message: 'migration never has not started: there is nothing to resume',
      });
      await expect(setPaused(ctx, 'never', true)).rejects.toMatchObject({
        code: 'E_CONTROL_REFUSED',
        message: 'migration never has not started: there is nothing to pause',
      });
      expect((await ctx.audit.entries()).map((e) => `${e.command}:${e.outcome}`)).toEqual([
        'resume:refused: migration never has not started: there is nothing to resume',
        'pause:refused: migration never has not started: there is nothing to pause',
      ]);
    } finally {
      await store.close();
    }
  });
});
