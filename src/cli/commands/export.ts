import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { exportDocuments } from '../../io/export-documents.js';
import type { UnreadableDoc } from '../../store/contract.js';
import { redactUrl } from '../../store/store-url.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { Progress, formatRate } from '../progress.js';
import { waitingStoreCalls } from '../store-calls.js';

interface ExportOptions {
  out?: string;
}

export const exportCommand = defineCommand<ExportOptions>({
  spec: {
    name: 'export',
    summary: 'export a collection as NDJSON (canonical Extended JSON), ordered by key',
    details: [
      'Writes one document per line in canonical Extended JSON, keys in their stored order, ordered by document key (code-point order) on every store. Stores that scan in key order (sqlite, memory) are streamed page by page; on the others (redis, dynamodb, mongodb) the keys are collected and sorted first (memory for the keys only, about 50 bytes each), then the documents are read in that order.',
      'Without --out the documents go to stdout and the summary (if any) to stderr. With --out the file is written under a temporary name and renamed when complete, so a failed export never leaves half a file.',
      'A stored document that cannot be read (not JSON, a JSON array: written by another tool) is left out and named on stderr, and the export goes on; it then exits 1.',
      'A store that becomes unreachable (a server restarting or failing over) is waited for, up to about 40 s, and each wait is said on stderr. When the store refuses the scan cursor (a Redis server restarted), the export walks the collection again from its beginning: no document is lost or written twice.',
    ],
    arguments: [{ name: 'collection', description: 'the collection to export' }],
    options: [{ flags: '-o, --out <file>', description: 'write to this file instead of stdout' }],
    examples: [
      { command: 'switchyard export users > users.ndjson' },
      { command: 'switchyard --store sqlite:./data.db export movies --out movies.ndjson --json' },
    ],
  },

  async run(ctx: CliContext, [name], options): Promise<number> {
    const collectionName = name!;
    if (options.out !== undefined) checkOutFolder(resolve(ctx.io.cwd, options.out), options.out);
    const progress = new Progress(ctx.io.stderr, ctx.showProgress && options.out !== undefined);
    const started = Date.now();
    const onProgress = (n: number): void =>
      progress.update(() => `exporting ${collectionName}: ${formatRate(n, started)}`);
    const exportOptions = {
      onProgress,
      call: waitingStoreCalls(ctx, 'export'),
      onRestart: (why: string) =>
        ctx.err(`switchyard export: ${why} — the export walks the collection again`),
      onUnreadable: (u: UnreadableDoc) => {
        unreadable += 1;
        ctx.err(`switchyard export: '${u.key}' left out, it cannot be read: ${u.reason}`);
      },
    };
    let unreadable = 0;
    const count = await ctx.withStore(async (store) => {
      const collection = store.collection(collectionName);
      await collection.requireExists?.();
      if (options.out === undefined)
        return exportDocuments(collection, ctx.io.stdout, exportOptions);
      const target = resolve(ctx.io.cwd, options.out);
      const temp = `${target}.${process.pid}.tmp`;
      const file = createWriteStream(temp);
      try {
        const n = await exportDocuments(collection, file, exportOptions);
        file.end();
        await once(file, 'finish');
        await rename(temp, target);
        return n;
      } catch (err) {
        file.destroy();
        await rm(temp, { force: true });
        throw err;
      }
    });
    progress.done();
    const durationMs = Date.now() - started;
    const summary = {
      collection: collectionName,
      exported: count,
      unreadable,
      out: options.out ?? null,
      store: redactUrl(await ctx.storeUrl()),
      durationMs,
    };
    if (options.out === undefined) {
      // stdout holds the documents: the summary goes to stderr, and only when asked for
      if (ctx.json) ctx.err(JSON.stringify(summary));
      return unreadableExit(ctx, unreadable);
    }
    if (ctx.json) ctx.outJson(summary);
    else
      ctx.info(
        `exported ${count} documents from ${collectionName} to ${options.out} (${(durationMs / 1000).toFixed(1)}s)`,
      );
    return unreadableExit(ctx, unreadable);
  },
});

/** The folder `--out` writes into must exist: refused before the store is opened (exit 2). */
function checkOutFolder(target: string, given: string): void {
  const folder = dirname(target);
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    throw new UsageError(
      `the folder ${folder} does not exist: create it first (nothing was exported)`,
      { field: '--out' },
    );
  }
  if (!isFolder)
    throw new UsageError(`${folder} is not a folder, so ${given} cannot be written there`, {
      field: '--out',
    });
  if (existsSync(target) && statSync(target).isDirectory())
    throw new UsageError(`${given} is a folder: give a file name (nothing was exported)`, {
      field: '--out',
    });
}

/** Exit 1 (a check failed: the export is not whole) when documents were left out, saying so. */
function unreadableExit(ctx: CliContext, unreadable: number): number {
  if (unreadable === 0) return 0;
  ctx.err(
    `switchyard export: ${unreadable} stored document${unreadable === 1 ? '' : 's'} could not be read and ${unreadable === 1 ? 'was' : 'were'} left out (named above): repair or delete ${unreadable === 1 ? 'it' : 'them'} and export again`,
  );
  return 1;
}
