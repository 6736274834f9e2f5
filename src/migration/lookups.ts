/**
 * Lookups (issue 16 item 1): a migration declares the other collections it reads and the field
 * of its own document that holds the key to read them by:
 *   lookups: { docOps: { collection: 'docOps', by: 'doc_id' } }
 * and `up(doc, ctx)` receives `ctx.lookups.docOps`: the document of `docOps` whose key is
 * `doc.doc_id`, or null (no such document, or the field absent/null).
 *
 * Rules:
 * - `by` is a field path of plain names (`a.b`); its value must be a string or a number (the key
 *   as a string); any other value, and an absent or null field, looks up nothing (null).
 * - the engine reads what a batch needs in ONE getMany per batch and looked-up collection
 *   (engine/lookups.ts), never one read per document; the value up() sees is the looked-up
 *   document as of that read.
 */
import { getOwn } from '../core/field-path.js';
import type { Doc } from '../core/values.js';

export interface LookupSpec {
  /** the collection read (in the data store) */
  collection: string;
  /** the field of the migrated document whose value is the looked-up document's key */
  by: string;
}

/** what up() and down() receive besides the document */
export interface TransformContext {
  /** per declared lookup, the looked-up document or null */
  lookups: Readonly<Record<string, Doc | null>>;
}

export const NO_LOOKUPS: TransformContext = Object.freeze({ lookups: Object.freeze({}) });

/** The key a document looks up by `spec`, or null when its field holds no usable key. */
export function lookupKey(doc: Doc, spec: LookupSpec): string | null {
  let v: unknown = doc;
  for (const name of spec.by.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    v = getOwn(v as Doc, name);
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}
