/**
 * Object keys as data: the entry shape shared by {@link objectToArray} and
 * {@link arrayToObject} — `{ k: key, v: value }` by default, like MongoDB's `$objectToArray`,
 * with the two field names configurable — and the checks of their common options.
 */
import { InputError } from '../core/errors.js';
import { setOwn } from '../core/field-path.js';
import type { Doc, Value } from '../core/values.js';
import type { OnInvalid } from './on-invalid.js';

/** The field names of an entry and the options both operations take. */
export interface EntryOptions {
  /** The entry's field holding the key (default 'k'). */
  keyField?: string;
  /** The entry's field holding the value (default 'v'). */
  valueField?: string;
  /** A value that does not convert: 'fail' the document (default) or 'skip' it (on-invalid.ts). */
  onInvalid?: OnInvalid;
}

export const DEFAULT_KEY_FIELD = 'k';
export const DEFAULT_VALUE_FIELD = 'v';

/** The checked entry field names; InputError naming the operation and the option. */
export function entryFields(
  op: string,
  options: EntryOptions,
): { readonly keyField: string; readonly valueField: string } {
  const keyField = options.keyField ?? DEFAULT_KEY_FIELD;
  const valueField = options.valueField ?? DEFAULT_VALUE_FIELD;
  for (const [name, value] of [
    ['keyField', keyField],
    ['valueField', valueField],
  ] as const) {
    if (typeof value !== 'string' || value === '')
      throw new InputError(`${op}: '${name}' must be a non-empty field name`, { field: name });
  }
  if (keyField === valueField)
    throw new InputError(`${op}: 'keyField' and 'valueField' are both '${keyField}'`, {
      field: 'valueField',
    });
  return { keyField, valueField };
}

/** The entry options as `args` show them: only those not at their default. */
export function entryArgs(keyField: string, valueField: string): Record<string, string> {
  return {
    ...(keyField !== DEFAULT_KEY_FIELD ? { keyField } : {}),
    ...(valueField !== DEFAULT_VALUE_FIELD ? { valueField } : {}),
  };
}

/** An operation's `args`: the path, then the options not at their default when there are any. */
export function pathArgs(path: string, shown: Record<string, unknown>): unknown[] {
  return Object.keys(shown).length === 0 ? [path] : [path, shown];
}

/** One entry: `{ [keyField]: key, [valueField]: value }`. */
export function makeEntry(keyField: string, valueField: string, key: string, value: Value): Doc {
  const entry: Doc = {};
  setOwn(entry, keyField, key);
  setOwn(entry, valueField, value);
  return entry;
}
