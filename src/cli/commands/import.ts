import { resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { RESERVED_PREFIX } from '../../store/contract.js';
import { redactUrl } from '../../store/store-url.js';
import {
  DEFAULT_IMPORT_BATCH_SIZE,
  importDocuments,
  type ImportSummary,
} from '../../io/import-documents.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { Progress, formatRate } from '../progress.js';

interface ImportOptions {
  key: string;
  batchSize: number;
  skipInvalid?: boolean;
  fromLine?: number;
}

/** How many skipped records the text summary lists (JSON lists up to 1000). */
const MAX_SKIPPED_PRINTED = 20;

export const importCommand = defineCommand<ImportOptions>({
  spec: {
    name: 'import',
    summary: 'import documents from an NDJSON or JSON-array file (Extended JSON) into a collection',
    details: [
      'The file is NDJSON (one document per line, blank lines ignored) or a JSON array, one-line or pretty-printed, in canonical or relaxed Extended JSON as mongoexport writes it. It is streamed: only the record being read is held, whatever the size of the file (plus the keys written, see below).',
      'Each document is written unconditionally under the key taken from its key field (`_id` unless --key), in batches. A key that appears twice keeps the later document, and the summary says so, with the lines: the documents imported are the distinct keys, not the records read (to know, the write pass keeps a fingerprint of every key, about 40 bytes each).',
      'The file must be UTF-8, and a document may nest objects and arrays at most 100 levels deep (as in MongoDB). By default nothing is written unless the whole file is good: the file is validated first, and the first bad record (malformed, not UTF-8, too deep, or without a key) stops the import with its file and line, exit code 2. With --skip-invalid the good records are imported and the others are listed with their line and reason.',
      'When a write fails part-way (a full disk, a store gone), the import stops with exit code 3 and says how many documents were imported (they stay) and the line the failed batch starts on; the same import with --from-line <that line> goes on where it stopped. Running it again whole is also safe: documents are written unconditionally, so those already imported are written again, harmlessly.',
    ],
    arguments: [
      { name: 'collection', description: 'the collection to import into' },
      { name: 'file', description: 'the NDJSON or JSON-array file to read' },
    ],
    options: [
      {
        flags: '--key <field>',
        description: 'the field that identifies documents',
        defaultValue: '_id',
      },
      {
        flags: '--batch-size <n>',
        description: 'documents per write',
        defaultValue: DEFAULT_IMPORT_BATCH_SIZE,
        positiveInt: true,
      },
      {
        flags: '--skip-invalid',
        description:
          'import the good records and list the malformed ones instead of refusing the file',
      },
      {
        flags: '--from-line <n>',
        description:
          'skip the records that start before line n: go on with an import that stopped (its error names the line)',
        positiveInt: true,
      },
    ],
    examples: [
      { command: 'switchyard import users users.ndjson', comment: 'into the default store' },
      {
        command: 'switchyard --store sqlite:./data.db import movies movies.json --key imdb_id',
        comment: 'a mongoexport --jsonArray file keyed by another field',
      },
      {
        command: 'switchyard import users dump.ndjson --skip-invalid --json',
        comment: 'skip bad lines, JSON summary',
      },
      {
        command: 'switchyard import users users.ndjson --from-line 11001',
        comment: 'go on after an import that stopped at line 11001 (a full disk)',
      },
    ],
  },

  async run(ctx: CliContext, [name, file], options): Promise<number> {
    const collectionName = name!;
    if (collectionName.startsWith(RESERVED_PREFIX)) {
      throw new UsageError(
        `collections starting with '${RESERVED_PREFIX}' hold Switchyard's own state`,
        {
          field: 'collection',
        },
      );
    }
    const progress = new Progress(ctx.io.stderr, ctx.showProgress);
    const started = Date.now();
    const summary = await ctx.withStore(async (store) =>
      importDocuments(store.collection(collectionName), resolve(ctx.io.cwd, file!), {
        fileName: file!,
        keyField: options.key,
        batchSize: options.batchSize,
        skipInvalid: options.skipInvalid === true,
        ...(options.fromLine !== undefined ? { fromLine: options.fromLine } : {}),
        onProgress: (p) =>
          progress.update(() =>
            p.phase === 'validate'
              ? `validating ${file}: ${formatRate(p.read, started)}`
              : `importing into ${collectionName}: ${p.written.toLocaleString('en-US')}${p.total !== undefined ? ` / ${p.total.toLocaleString('en-US')}` : ''} docs`,
          ),
      }),
    );
    progress.done();
    if (ctx.json) ctx.outJson({ ...summary, store: redactUrl(await ctx.storeUrl()) });
    else printSummary(ctx, summary);
    return 0;
  },
});

function printSummary(ctx: CliContext, s: ImportSummary): void {
  const seconds = (s.durationMs / 1000).toFixed(1);
  const skipped = s.skippedCount > 0 ? `, skipped ${s.skippedCount}` : '';
  const docs = (n: number) => `${n} document${n === 1 ? '' : 's'}`;
  const from = s.fromLine !== undefined ? ` (from line ${s.fromLine})` : '';
  const repeated =
    s.duplicateCount > 0
      ? `; ${s.records} records, ${s.duplicateCount} of them repeating the key (${s.keyField}) of an earlier one: the later record is kept`
      : '';
  ctx.info(
    `imported ${docs(s.imported)} into ${s.collection} from ${s.file}${from}${skipped}${repeated} (${seconds}s)`,
  );
  if (ctx.quiet) return;
  for (const d of s.duplicates.slice(0, MAX_SKIPPED_PRINTED))
    ctx.out(
      `  key ${JSON.stringify(d.key)} on lines ${d.lines.join(', ')}: line ${d.lines.at(-1)} kept`,
    );
  if (s.duplicates.length > MAX_SKIPPED_PRINTED)
    ctx.out(
      `  ... and ${s.duplicates.length - MAX_SKIPPED_PRINTED} more repeated keys (--json lists up to 1000)`,
    );
  if (s.skippedCount === 0) return;
  for (const r of s.skipped.slice(0, MAX_SKIPPED_PRINTED))
    ctx.out(`  skipped line ${r.line}: ${r.reason}`);
  if (s.skippedCount > MAX_SKIPPED_PRINTED) {
    ctx.out(
      `  ... and ${s.skippedCount - MAX_SKIPPED_PRINTED} more (use --json to list up to ${s.skipped.length})`,
    );
  }
}
