/**
 * The `--filter` of a canary backfill: which documents the canary may transform. Small on
 * purpose, and checked before anything runs (a bad filter is a UsageError naming it: exit 2):
 *
 * - `path=value`: a value at the field path equals `value` (JSON when it parses as JSON —
 *   `tier=1`, `active=true`, `name="Ann"` — else the text itself: `country=FR`);
 * - `path~prefix`: a string at the field path starts with `prefix`;
 * - the path `@key` is the document's key: `@key~eu:` takes the keys that start with `eu:`.
 *
 * Field paths are the operations' (`address.city`, `tags[]`: any element matches).
 */
import { UsageError } from '../core/errors.js';
import { parsePath, slotsOf, type FieldPath } from '../core/field-path.js';
import { canonicalEquals, type Doc, type Value } from '../core/values.js';

/** The pseudo-path that names the document's key. */
export const KEY_PATH = '@key';

export interface CanaryFilter {
  /** as written (recorded in the catalog and the audit log) */
  readonly text: string;
  matches(key: string, doc: Doc): boolean;
}

const FORM = /^([^=~]+)(=|~)([\s\S]*)$/;

export function parseCanaryFilter(text: string): CanaryFilter {
  const bad = (why: string) =>
    new UsageError(
      `--filter '${text}': ${why}. Write path=value (equal), path~prefix (a string starting with prefix), or @key~prefix`,
      { field: '--filter' },
    );
  const m = FORM.exec(text.trim());
  if (m === null) throw bad("no '=' or '~'");
  const [, rawPath, op, rawValue] = m as unknown as [string, string, '=' | '~', string];
  const pathText = rawPath.trim();
  let path: FieldPath | undefined;
  if (pathText !== KEY_PATH) {
    try {
      path = parsePath(pathText);
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  if (op === '~') {
    if (rawValue.length === 0) throw bad('the prefix is empty');
    const at = (key: string, doc: Doc): Value[] =>
      path === undefined ? [key] : valuesAt(doc, path);
    return {
      text,
      matches: (key, doc) =>
        at(key, doc).some((v) => typeof v === 'string' && v.startsWith(rawValue)),
    };
  }
  if (rawValue.length === 0) throw bad('the value is empty');
  const value = jsonOrText(rawValue);
  return {
    text,
    matches: (key, doc) =>
      path === undefined
        ? typeof value === 'string' && key === value
        : valuesAt(doc, path).some((v) => canonicalEquals(v, value)),
  };
}

function valuesAt(doc: Doc, path: FieldPath): Value[] {
  const out: Value[] = [];
  for (const slot of slotsOf(doc, path)) {
    const v = slot.get();
    if (v !== undefined) out.push(v);
  }
  return out;
}

function jsonOrText(text: string): Value {
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return v as Value;
  } catch {
    // not JSON: the text itself
  }
  return text;
}
