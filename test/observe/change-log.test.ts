/**
 * Field-level change logs: the JSON Patch of a document applies to what was read and gives what
 * was written (property), and a backfill with `logChanges` writes one JSON line per batch with the
 * paths changed and their counts, and sampled keys with their patches.
 */
import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalString, type Doc, type Value } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { jsonPatch, type PatchOp } from '../../src/observe/change-log.js';
import { createLogger } from '../../src/observe/logger.js';
import { runCli } from '../cli/run-cli.js';
import {
  contextFor,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
} from '../engine/backfill-fixtures.js';
import { arbDoc } from '../support/arb-values.js';

/** RFC 6902 add/remove/replace, in order (an add into an array inserts, a remove shifts). */
function applyPatch(doc: Doc, patch: readonly PatchOp[]): Value | undefined {
  let root: Value | undefined = structuredClone(doc);
  for (const op of patch) {
    if (op.path === '') {
      root = op.op === 'remove' ? undefined : op.value;
      continue;
    }
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent = root as Record<string, Value> | Value[];
    for (const p of parts) parent = (parent as Record<string, Value>)[p] as typeof parent;
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (op.op === 'add') parent.splice(i, 0, op.value);
      else if (op.op === 'remove') parent.splice(i, 1);
      else parent[i] = op.value;
    } else if (op.op === 'remove') delete parent[last];
    else parent[last] = op.value;
  }
  return root;
}

describe('jsonPatch', () => {
  it('applied to the document read, gives the document written', () => {
    fc.assert(
      fc.property(arbDoc, arbDoc, (before, after) => {
        const out = applyPatch(before, jsonPatch(before, after));
        expect(canonicalString(out as Value)).toBe(canonicalString(after));
      }),
      { numRuns: 300 },
    );
  });

  it('a shrunk array is removed from its end', () => {
    expect(jsonPatch({ a: [1, 2, 3, 4] }, { a: [1, 2] })).toEqual([
      { op: 'remove', path: '/a/3' },
      { op: 'remove', path: '/a/2' },
    ]);
    expect(jsonPatch({ a: 1 }, null)).toEqual([{ op: 'remove', path: '' }]);
  });
});

describe('backfill logChanges', () => {
  it('one line per batch: paths and counts over every document, patches for the sample', async () => {
    const store = sqliteAt(path.join(tempDir('sy-chg-'), 'db.sqlite'));
    try {
      await seedUsers(store, 120);
      const lines: string[] = [];
      const logger = createLogger({ destination: { write: (l: string) => lines.push(l) } });
      const r = await backfill(contextFor(store), splitNameMigration(), {
        batchSize: 50,
        partitions: 1,
        concurrency: 1,
        logChanges: { logger, sample: 2 },
      });
      expect(r.outcome).toBe('backfilled');
      const entries = lines.map(
        (l) =>
          JSON.parse(l) as {
            event: string;
            migration: string;
            documents: number;
            paths: Record<string, number>;
            samples: { key: string; patch: PatchOp[] }[];
          },
      );
      expect(entries.map((e) => e.documents)).toEqual([50, 50, 20]);
      for (const e of entries) {
        expect(e).toMatchObject({ event: 'changes', migration: 'm-split' });
        // split name -> first, last; lowercased email; the version field
        expect(e.paths).toMatchObject({
          name: e.documents,
          first: e.documents,
          last: e.documents,
          email: e.documents,
        });
        expect(e.samples).toHaveLength(2);
      }
      const first = entries[0]!.samples[0]!;
      expect(first.key).toBe('u000000');
      expect(first.patch).toEqual(
        expect.arrayContaining([
          { op: 'remove', path: '/name' },
          { op: 'replace', path: '/email', value: 'user0@example.com' },
          { op: 'add', path: '/first', value: 'First0' },
        ]),
      );
    } finally {
      await store.close();
    }
  });

  it('--log-changes-sample without --log-changes is a usage error (exit 2), naming the flag', async () => {
    const r = await runCli(['backfill', 'x', '--log-changes-sample', '2'], { cwd: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--log-changes');
  });
});
