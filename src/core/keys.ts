/**
 * Document keys. Stores address documents by a string key derived from the document's key
 * field (`_id` unless told otherwise). The document itself keeps the field with its own type,
 * so nothing is lost: the key is an address, not a copy of the value.
 *
 *   string          -> the string itself
 *   ObjectId        -> its 24-character hex form
 *   int / long      -> decimal digits
 *   double          -> its JS string form
 *   Date            -> ISO 8601
 *   anything else   -> its canonical Extended JSON
 */
import { InputError } from './errors.js';
import { canonicalString, isBsonObject, type Doc, type Value } from './values.js';

export const DEFAULT_KEY_FIELD = '_id';

export function keyOf(value: Value | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (isBsonObject(value)) {
    switch (value._bsontype) {
      case 'ObjectId':
        return (value as unknown as { toHexString(): string }).toHexString();
      case 'Long':
      case 'Double':
      case 'Int32':
      case 'Decimal128':
        return value.toString();
    }
  }
  return canonicalString(value);
}

/** The key of a document, or an InputError naming the missing field. */
export function keyOfDoc(doc: Doc, keyField: string = DEFAULT_KEY_FIELD): string {
  const key = keyOf(doc[keyField]);
  if (key === undefined || key === '') {
    throw new InputError(
      `document has no usable key (set --key to the field that identifies documents)`,
      {
        field: keyField,
      },
    );
  }
  return key;
}

export interface KeyChange {
  /** the top-level field that carries the key */
  readonly field: string;
  /** the field's key before and after (undefined: the field is gone) */
  readonly before: string;
  readonly after: string | undefined;
}

/**
 * Whether a transform changed the fields a document's key comes from: the store would keep the
 * result under the old key, so the document would no longer say what it is stored as.
 *
 * Which fields carry the key: `keyField` (`_id`) when it gives the key the document is stored
 * under; otherwise every top-level field whose value gives the key, or one part of a composite
 * key (a JSON array of strings, as DynamoDB tables with a sort key have), so a store whose key is
 * another field (`import --key email`, a DynamoDB table's key attributes) is covered too.
 * Returns the first such field whose key changed, or undefined.
 */
export function findKeyChange(
  key: string,
  before: Doc,
  after: Doc,
  keyField: string = DEFAULT_KEY_FIELD,
): KeyChange | undefined {
  const fields = keyOf(before[keyField]) === key ? [keyField] : keyCarriers(key, before, keyField);
  for (const field of fields) {
    const was = keyOf(before[field])!;
    const now = keyOf(after[field]);
    if (now !== was) return { field, before: was, after: now };
  }
  return undefined;
}

function keyCarriers(key: string, doc: Doc, keyField: string): string[] {
  const parts = new Set([key, ...compositeParts(key)]);
  const out = Object.keys(doc).filter((f) => {
    const k = keyOf(doc[f]);
    return k !== undefined && parts.has(k);
  });
  // a document keyed by something else that still has the key field: that field is not the key
  return out.filter((f) => f !== keyField);
}

function compositeParts(key: string): string[] {
  if (!key.startsWith('[')) return [];
  try {
    const parts: unknown = JSON.parse(key);
    return Array.isArray(parts) && parts.every((p) => typeof p === 'string') ? parts : [];
  } catch {
    return [];
  }
}

/**
 * With a key mapping (side by side, `target.key`): the document of `key` is stored under
 * `targetKey`, so a field that carried `key` (or one part of it) must carry `targetKey` (or one
 * of its parts), or be left out. Returns the first field that still carries anything else (up()
 * forgot to move the key field), or undefined.
 */
export function findMappedKeyChange(
  key: string,
  targetKey: string,
  before: Doc,
  after: Doc,
  keyField: string = DEFAULT_KEY_FIELD,
): KeyChange | undefined {
  const fields = keyOf(before[keyField]) === key ? [keyField] : keyCarriers(key, before, keyField);
  const allowed = new Set([targetKey, ...compositeParts(targetKey)]);
  for (const field of fields) {
    const now = keyOf(after[field]);
    if (now !== undefined && !allowed.has(now))
      return { field, before: keyOf(before[field])!, after: now };
  }
  return undefined;
}
