/**
 * A structural diff of two values that names each differing path, in two forms:
 *   - `path`: a JSON Pointer (RFC 6901), as JSON Patch uses: `/items/3/price`;
 *   - `field`: the field path pattern with array positions folded: `items[].price` — what
 *     mismatch counters group by.
 * Leaves are compared by canonical form, so a type change (int 1 vs double 1.0) is a difference.
 */
import { canonicalString, isBsonObject, isPlainObject, type Doc, type Value } from './values.js';

export interface DiffEntry {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly field: string;
  /** the value in the first document (absent for 'add') */
  readonly before?: Value;
  /** the value in the second document (absent for 'remove') */
  readonly after?: Value;
}

export interface DiffOptions {
  /** stop after this many entries (default: no limit) */
  limit?: number;
  /** top-level fields to ignore (e.g. a version field) */
  ignore?: readonly string[];
}

export function diff(
  a: Value | undefined,
  b: Value | undefined,
  options: DiffOptions = {},
): DiffEntry[] {
  const out: DiffEntry[] = [];
  const limit = options.limit ?? Infinity;
  const ignore = new Set(options.ignore ?? []);
  walk(a, b, '', '', out, limit, ignore, true);
  return out;
}

/** True when the two values are canonically equal (no differences). */
export function sameValue(a: Value | undefined, b: Value | undefined): boolean {
  return diff(a, b, { limit: 1 }).length === 0;
}

function isContainerDoc(v: Value | undefined): v is Doc {
  return isPlainObject(v) && !isBsonObject(v);
}

function walk(
  a: Value | undefined,
  b: Value | undefined,
  path: string,
  field: string,
  out: DiffEntry[],
  limit: number,
  ignore: ReadonlySet<string>,
  top: boolean,
): void {
  if (out.length >= limit) return;
  if (a === undefined && b === undefined) return;
  if (a === undefined) {
    out.push({ op: 'add', path: path || '', field, after: b! });
    return;
  }
  if (b === undefined) {
    out.push({ op: 'remove', path: path || '', field, before: a });
    return;
  }
  if (isContainerDoc(a) && isContainerDoc(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      if (top && ignore.has(k)) continue;
      walk(
        a[k],
        b[k],
        `${path}/${escapePointer(k)}`,
        field === '' ? k : `${field}.${k}`,
        out,
        limit,
        ignore,
        false,
      );
      if (out.length >= limit) return;
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      walk(a[i], b[i], `${path}/${i}`, `${field}[]`, out, limit, ignore, false);
      if (out.length >= limit) return;
    }
    return;
  }
  if (canonicalString(a) !== canonicalString(b))
    out.push({ op: 'replace', path, field, before: a, after: b });
}

function escapePointer(k: string): string {
  return k.replace(/~/g, '~0').replace(/\//g, '~1');
}
