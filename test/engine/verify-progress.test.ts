import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { progressLine, verifySidesText } from '../../src/cli/job-events.js';
import type { JobProgress, RunnerEvent } from '../../src/engine/runner/job.js';
import { verify } from '../../src/engine/verify.js';
import { progressView } from '../../src/dashboard/snapshot.js';
import { backfilledSqlite, tempDir } from './backfill-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-verify-progress-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("verify's progress counts documents and journal entries apart", () => {
  it('300 documents with 300 journal entries are 300 documents, not 600', async () => {
    const { store, ctx, m } = await backfilledSqlite(dir, 300);
    try {
      let last: JobProgress | undefined;
      const r = await verify(ctx, m, {
        batchSize: 50,
        onEvent: (e: RunnerEvent) => {
          if (e.type === 'progress') last = e.progress;
        },
      });
      expect(r).toMatchObject({ ok: true, compared: 300 });
      expect(last).toBeDefined();
      // the runner's sum is 600 items; the words count the sides apart
      expect(last).toMatchObject({ done: 600, total: 600 });
      expect(last!.sides).toEqual({
        documents: { done: 300, total: 300 },
        journal: { done: 300, total: 300 },
      });
      const line = progressLine(last!, verifySidesText(last!), ' items');
      expect(line).toContain('documents 300/300, journal entries 300/300');
      expect(line).toMatch(/ items\/s /);
      expect(line).not.toContain('600');
      // what the catalog keeps for status and the dashboard says the same
      const published = (await ctx.catalog.get(m.id))!.verifyProgress as Record<string, unknown>;
      expect(verifySidesText(published)).toBe('documents 300/300, journal entries 300/300');
      expect(progressView(published).sides).toEqual(last!.sides);
    } finally {
      await store.close();
    }
  });
});
