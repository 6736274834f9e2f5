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
