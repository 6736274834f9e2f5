/**
 * Import a document file (NDJSON or JSON array, Extended JSON) into a collection with batched,
 * unconditional puts, in constant memory.
 *
 * Nothing is written unless the whole file is good: without `skipInvalid` the file is read
 * twice, once to validate every record (it parses and has a key) and once to write. With
 * `skipInvalid`, one pass writes the good records and lists the others (line + reason).
 * Documents are stored as they are in the file; a key that appears twice keeps the later one,
 * and the summary says so: `imported` counts documents stored (distinct keys), `records` the
 * good records read, and `duplicates` the keys that came more than once, with their lines. The
 * write pass keeps a fingerprint of every key it wrote (seen-keys.ts, about 40 bytes each).
 *
 * Resume rules: a write that fails (a full disk, a store gone) ends the import with
 * ImportIncompleteError, which says how many documents were imported (every batch before the
 * failed one; they stay) and the line the failed batch starts on. `fromLine` skips every record
 * that starts before that line (neither validated nor written), so the same import with
 * `--from-line <that line>` goes on where it stopped. Running it again whole is also right:
 * puts are unconditional, so documents already imported are written again, harmlessly, and a
 * failed batch that a store applied in part is written whole. Records of a one-line JSON array
 * share a line, so there the error says to run it again whole.
 */
import { InputError, StoreError, errorMessage } from '../core/errors.js';
import { DEFAULT_KEY_FIELD, keyOfDoc } from '../core/keys.js';
import type { Doc } from '../core/values.js';
import type { Collection, WriteOp } from '../store/contract.js';
import { readDocumentEntries, type DocumentEntry } from './read-document-entries.js';
import { SeenKeys } from './seen-keys.js';

export const DEFAULT_IMPORT_BATCH_SIZE = 1000;
/** how many skipped records are listed in the summary (all are counted) */
export const DEFAULT_MAX_SKIPPED_LISTED = 1000;

export interface ImportProgress {
  readonly phase: 'validate' | 'write';
  /** records read in this phase */
  readonly read: number;
  /** documents written so far */
  readonly written: number;
  /** the number of valid documents, once the validation pass has counted them */
  readonly total: number | undefined;
}

export interface ImportOptions {
  /** the field that identifies documents (default `_id`) */
  keyField?: string;
  /** documents per write (default 1000) */
  batchSize?: number;
  /** import the good records and list the bad ones, instead of refusing the whole file */
  skipInvalid?: boolean;
  maxSkippedListed?: number;
  onProgress?: (progress: ImportProgress) => void;
  signal?: AbortSignal;
  /** how messages and the summary name the file (default: the path as given) */
  fileName?: string;
  /** skip the records that start before this line (1-based): resume an import that stopped */
  fromLine?: number;
}

export interface SkippedRecord {
  readonly line: number;
  readonly reason: string;
}

export interface DuplicateKey {
  readonly key: string;
  /** every line it came on; the last one is what is stored */
  readonly lines: readonly number[];
}

export interface ImportSummary {
  readonly file: string;
  readonly collection: string;
  readonly keyField: string;
  /** documents stored: the distinct keys of the good records */
  readonly imported: number;
  /** good records read (more than `imported` when keys repeat) */
  readonly records: number;
  /** records whose key an earlier record of the file had (each replaced the one before) */
  readonly duplicateCount: number;
  /** the first `maxSkippedListed` repeated keys, with their lines */
  readonly duplicates: readonly DuplicateKey[];
  readonly skippedCount: number;
  /** the first `maxSkippedListed` skipped records */
  readonly skipped: readonly SkippedRecord[];
  /** the line the import started from (records before it were skipped), when not 1 */
  readonly fromLine?: number;
  readonly durationMs: number;
}

/**
 * A write failed part-way: `imported` documents (the batches before the failed one) are in the
 * collection; `resumeLine` is the line the failed batch starts on (null when that line also
 * holds an imported record, as in a one-line JSON array: then run the import again whole).
 */
export class ImportIncompleteError extends StoreError {
  override readonly code = 'E_IMPORT_INCOMPLETE';
  constructor(
    message: string,
    readonly imported: number,
    readonly total: number | undefined,
    readonly resumeLine: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface CheckedEntry {
  readonly line: number;
  readonly doc?: Doc;
  readonly key?: string;
  readonly error?: InputError;
}

export async function importDocuments(
  collection: Collection,
  file: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const started = Date.now();
  const keyField = options.keyField ?? DEFAULT_KEY_FIELD;
  const batchSize = options.batchSize ?? DEFAULT_IMPORT_BATCH_SIZE;
  const maxListed = options.maxSkippedListed ?? DEFAULT_MAX_SKIPPED_LISTED;
  const skipInvalid = options.skipInvalid === true;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InputError(`batch size must be a positive integer, got ${batchSize}`, {
      field: 'batchSize',
    });
  }
  const fromLine = options.fromLine ?? 1;
  if (!Number.isInteger(fromLine) || fromLine < 1) {
    throw new InputError(`the line to start from must be a positive integer, got ${fromLine}`, {
      field: 'fromLine',
    });
  }
  const report = options.onProgress ?? (() => {});
  const name = options.fileName ?? file;
  const records = () => checked(file, name, keyField, fromLine);

  let total: number | undefined;
  if (!skipInvalid) {
    // Pass 1: the first bad record stops everything before anything is written.
    let read = 0;
    total = 0;
    for await (const entry of records()) {
      options.signal?.throwIfAborted();
      if (entry.error !== undefined) throw entry.error;
      read++;
      total++;
      if ((read & 0xff) === 0) report({ phase: 'validate', read, written: 0, total: undefined });
    }
    report({ phase: 'validate', read, written: 0, total });
  }

  // Pass 2: write in batches.
  const skipped: SkippedRecord[] = [];
  let skippedCount = 0;
  // the keys written (as fingerprints); repeated keys -> all their lines (listed ones only)
  const seenKeys = new SeenKeys();
  const repeated = new Map<string, number[]>();
  let duplicateCount = 0;
  // repeated keys among the records of batches written (the documents stored are the rest)
  let writtenDuplicates = 0;
  let written = 0;
  let read = 0;
  let batch: WriteOp[] = [];
  // the line the batch's first record starts on, and the line of the last record written
  let batchLine = 0;
  let writtenLine = 0;
  const stopped = (why: string, cause?: unknown): ImportIncompleteError => {
    const resumeLine = batchLine > writtenLine ? batchLine : null;
    const stored = written - writtenDuplicates;
    const records =
      writtenDuplicates > 0
        ? ` (${written} records, ${writtenDuplicates} of them repeating the key of an earlier one)`
        : '';
    const count =
      total !== undefined && writtenDuplicates === 0
        ? `${written} of ${total} documents${fromLine > 1 ? ` from line ${fromLine} on` : ''}`
        : `${stored} documents${records}`;
    const after = collection.capabilities.atomicBatch
      ? `nothing after line ${writtenLine} was written`
      : `of lines ${batchLine}-${lastLine} (the failed batch) some may be written`;
    const kept =
      written > 0
        ? `${count} were imported (up to line ${writtenLine}) and stay in '${collection.name}'; ${after}.`
        : `no document was imported${fromLine > 1 ? ` from line ${fromLine} on` : ''}${collection.capabilities.atomicBatch ? '' : ` (of lines ${batchLine}-${lastLine}, some may be written)`}.`;
    const resume =
      resumeLine !== null
        ? `To go on where it stopped, run the same import with --from-line ${resumeLine} (running it again whole is also safe: documents already imported are written again, harmlessly).`
        : 'To go on, run the same import again (documents already imported are written again, harmlessly; the records of this file share lines, so --from-line cannot skip them).';
    return new ImportIncompleteError(
      `${name}: the import stopped at line ${batchLine}: ${why}. ${kept} ${resume}`,
      stored,
      total,
      resumeLine,
      cause !== undefined ? { cause } : undefined,
    );
  };
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const ops = batch;
    let results;
    try {
      results = await collection.write(ops);
    } catch (err) {
      // bad input the store found (a key that does not fit a DynamoDB table's key schema)
      if (err instanceof InputError) throw err;
      throw stopped(`writing to '${collection.name}' failed: ${errorMessage(err)}`, err);
    }
    const failed = results.filter((r) => !r.ok);
    if (results.length !== ops.length || failed.length > 0) {
      throw stopped(
        `the store did not apply ${failed.length || ops.length - results.length} of ${ops.length} writes to '${collection.name}' (first key: ${failed[0]?.key ?? '?'})`,
      );
    }
    batch = [];
    written += ops.length;
    writtenDuplicates = duplicateCount;
    writtenLine = lastLine;
    report({ phase: 'write', read, written, total });
  };
  let lastLine = 0;
  for await (const entry of records()) {
    options.signal?.throwIfAborted();
    read++;
    if (entry.error !== undefined) {
      // Without skipInvalid this can only happen if the file changed since it was validated.
      if (!skipInvalid) throw entry.error;
      skippedCount++;
      if (skipped.length < maxListed)
        skipped.push({ line: entry.line, reason: reasonOf(entry.error) });
      continue;
    }
    if (batch.length === 0) batchLine = entry.line;
    const seen = seenKeys.firstSeen(entry.key!, entry.line);
    if (seen !== undefined) {
      duplicateCount++;
      const lines = repeated.get(entry.key!);
      if (lines !== undefined) lines.push(entry.line);
      else if (repeated.size < maxListed) repeated.set(entry.key!, [seen, entry.line]);
    }
    batch.push({ type: 'put', key: entry.key!, doc: entry.doc! });
    lastLine = entry.line;
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return {
    file: name,
    collection: collection.name,
    keyField,
    imported: written - duplicateCount,
    records: written,
    duplicateCount,
    duplicates: [...repeated].map(([key, lines]) => ({ key, lines })),
    skippedCount,
    skipped,
    ...(fromLine > 1 ? { fromLine } : {}),
    durationMs: Date.now() - started,
  };
}

/** Entries with their key, or the reason they cannot be imported. */
async function* checked(
  file: string,
  name: string,
  keyField: string,
  fromLine: number,
): AsyncGenerator<CheckedEntry, void, undefined> {
  for await (const entry of readDocumentEntries(file, { name })) {
    if (entry.line < fromLine) continue;
    if (entry.error !== undefined) {
      yield entry;
      continue;
    }
    yield withKey(entry, name, keyField);
  }
}

function withKey(
  entry: DocumentEntry & { doc: Doc },
  file: string,
  keyField: string,
): CheckedEntry {
  try {
    return { line: entry.line, doc: entry.doc, key: keyOfDoc(entry.doc, keyField) };
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const reason = `document has no usable key (set --key to the field that identifies documents)`;
    return {
      line: entry.line,
      error: new InputError(reason, { file, line: entry.line, field: keyField }),
    };
  }
}

/** The reason without the `file:line: ` prefix (the line is listed beside it). */
function reasonOf(err: InputError): string {
  const prefix =
    err.file !== undefined && err.line !== undefined ? `${err.file}:${err.line}` : undefined;
  let msg = err.message;
  if (prefix !== undefined && msg.startsWith(prefix))
    msg = msg.slice(prefix.length).replace(/^(, )?/, '');
  return msg.replace(/^: /, '');
}
