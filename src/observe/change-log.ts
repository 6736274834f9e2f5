/**
 * Field-level change logs (`backfill --log-changes`): one JSON line (pino) per batch that wrote
 * something, with the field paths the batch changed and how many documents each, and for the first
 * `sample` documents of the batch their key and the change as a JSON Patch (RFC 6902).
 *
 * Rules:
 * - the diff is core/diff.ts, which already names each change by JSON Pointer (`path`, what the
 *   patch uses) and by folded field path (`field`, `items[].price`, what the counts group by): no
 *   new library. `before` is the document as the batch read it, `after` the document written;
 *   a delete (a side-by-side copy whose source is gone) is `[{ op: 'remove', path: '' }]`;
 * - only writes the store accepted are logged (a conflicting write is redone and logged then);
 * - patch values ARE document content: the log holds data, by design. The logger's secret
 *   redaction still runs over every string (a password in a URL inside a document is blanked),
 *   and nothing from the config is logged;
 * - partitions hold disjoint keys, so lanes working at once never share an entry of `#before`.
 */
import type { Logger } from 'pino';
import { diff } from '../core/diff.js';
import type { Doc, Value } from '../core/values.js';
import type { StoredDoc, WriteOp, WriteResult } from '../store/contract.js';

/** Sampled documents per batch when `--log-changes-sample` is not given. */
export const DEFAULT_CHANGE_SAMPLE = 3;

/** The path counted for a document created or deleted as a whole. */
export const WHOLE_DOCUMENT = '(document)';

/** One operation of a JSON Patch (RFC 6902). */
export type PatchOp =
  | { readonly op: 'add' | 'replace'; readonly path: string; readonly value: Value }
  | { readonly op: 'remove'; readonly path: string };

/** The JSON Patch turning `before` into `after` (null `after`: the document was deleted). */
export function jsonPatch(before: Doc | null, after: Doc | null): PatchOp[] {
  if (after === null) return [{ op: 'remove', path: '' }];
  if (before === null) return [{ op: 'add', path: '', value: after }];
  const ops: PatchOp[] = diff(before, after).map((e) =>
    e.op === 'remove'
      ? { op: 'remove', path: e.path }
      : { op: e.op, path: e.path, value: e.after! },
  );
  return removesLastFirst(ops);
}

/**
 * The diff names the removed tail of a shrunk array in ascending order (`/a/2`, `/a/3`); a patch
 * is applied in order and each removal shifts what follows, so every run of consecutive removes is
 * reversed (removes of other paths in a run do not depend on each other's order).
 */
function removesLastFirst(ops: PatchOp[]): PatchOp[] {
  const out: PatchOp[] = [];
  let run: PatchOp[] = [];
  for (const op of ops) {
    if (op.op === 'remove') {
      run.push(op);
      continue;
    }
    out.push(...run.reverse(), op);
    run = [];
  }
  return [...out, ...run.reverse()];
}

export interface ChangeLogOptions {
  logger: Logger;
  migration: string;
  /** documents per batch whose patch is logged (default DEFAULT_CHANGE_SAMPLE) */
  sample?: number;
}

export class ChangeLog {
  readonly #o: ChangeLogOptions;
  readonly #before = new Map<string, Doc>();
  readonly #written = new Map<string, Doc | null>();

  constructor(options: ChangeLogOptions) {
    this.#o = options;
  }

  /** A batch starts with these documents (as read). */
  begin(items: readonly StoredDoc[]): void {
    for (const i of items) this.#before.set(i.key, i.doc);
  }

  /** A batch write's operations and results: the accepted ones are noted; returns `results`. */
  saw(ops: readonly WriteOp[], results: WriteResult[]): WriteResult[] {
    const ok = new Set(results.filter((r) => r.ok).map((r) => r.key));
    for (const op of ops)
      if (ok.has(op.key)) this.#written.set(op.key, op.type === 'put' ? op.doc : null);
    return results;
  }

  /** The batch of `items` is over: log what it changed (nothing written: no line). */
  end(items: readonly StoredDoc[], partition?: string): void {
    const paths = new Map<string, number>();
    const samples: { key: string; patch: PatchOp[] }[] = [];
    const limit = this.#o.sample ?? DEFAULT_CHANGE_SAMPLE;
    let documents = 0;
    for (const { key } of items) {
      const before = this.#before.get(key) ?? null;
      this.#before.delete(key);
      if (!this.#written.has(key)) continue;
      const after = this.#written.get(key)!;
      this.#written.delete(key);
      documents += 1;
      const fields =
        before === null || after === null
          ? [WHOLE_DOCUMENT]
          : diff(before, after).map((e) => e.field);
      for (const f of new Set(fields)) paths.set(f, (paths.get(f) ?? 0) + 1);
      if (samples.length < limit) samples.push({ key, patch: jsonPatch(before, after) });
    }
    if (documents === 0) return;
    this.#o.logger.info(
      {
        event: 'changes',
        migration: this.#o.migration,
        ...(partition !== undefined ? { partition } : {}),
        documents,
        paths: Object.fromEntries([...paths].sort((a, b) => b[1] - a[1])),
        samples,
      },
      'documents changed',
    );
  }
}
