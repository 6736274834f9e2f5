import { InputError } from '../core/errors.js';
import { getOwn, setOwn, updateAt, withArticle } from '../core/field-path.js';
import { isPlainObject, typeOf, type Doc, type Value } from '../core/values.js';
import { convertValue } from './coerce-values.js';
import { entryArgs, entryFields, pathArgs, type EntryOptions } from './entries.js';
import { objectToArray } from './op-object-to-array.js';
import { onInvalidArg, onInvalidArgs } from './on-invalid.js';
import type { Fail, Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { choiceArg } from './option-arg.js';
import { pathArg } from './paths.js';

/** What {@link arrayToObject} does with a key that occurs twice: refuse, or keep one entry. */
export const ON_DUPLICATE = ['fail', 'first', 'last'] as const;
export type OnDuplicate = (typeof ON_DUPLICATE)[number];

/** Options of {@link arrayToObject}. */
export interface ArrayToObjectOptions extends EntryOptions {
  /** A key that occurs twice: 'fail' (default, exact), keep the 'first' or the 'last' entry (lossy). */
  onDuplicate?: OnDuplicate;
  /** Turn number, boolean and ObjectId keys into strings (lossy: 1 and '1' give one key). */
  convertKeys?: boolean;
  /**
   * Accept entries whose order an object cannot keep (lossy). Keys that look like array indexes
   * ('2', '10') always come first in an object, in ascending order, so `[{ k: 'b' }, { k: '1' }]`
   * comes back as `[{ k: '1' }, { k: 'b' }]`.
   */
  anyOrder?: boolean;
}

const JOURNAL = 'an in-place rollback restores each document exactly from the undo journal';

/** Key types `convertKeys` turns into strings (checked once per entry). */
const CONVERTIBLE_KEYS: ReadonlySet<string> = new Set([
  'int',
  'long',
  'double',
  'decimal',
  'bool',
  'objectId',
]);

/**
 * Replace the array of entries at `path` by an object: `[{ k: 'red', v: 1 }]` becomes
 * `{ red: 1 }` (MongoDB's `$arrayToObject`). Every element must be an entry — an object with
 * exactly the two fields `keyField` (default 'k', a string) and `valueField` (default 'v').
 * `null` and absent fields are left alone; `[]` becomes `{}`. With `[]`, works per element.
 *
 * Exact by default; the inverse is {@link objectToArray}. To stay exact it refuses (an
 * OperationError; with `{ onInvalid: 'skip' }` the document is left as it is) what the inverse
 * could not restore: an element that is not an entry, a key that is not a string, a key that
 * occurs twice, and entries in an order an object cannot keep (keys like '1' first).
 * `{ onDuplicate: 'first' | 'last' }`, `{ convertKeys: true }` and `{ anyOrder: true }` accept
 * those instead, and make it lossy.
 *
 * @example arrayToObject('attrs')  // { attrs: [{ k: 'color', v: 'red' }] } → { attrs: { color: 'red' } }
 */
export function arrayToObject(path: string, options: ArrayToObjectOptions = {}): Operation {
  const op = 'arrayToObject';
  const p = pathArg(op, 'path', path);
  const { keyField, valueField } = entryFields(op, options);
  const onInvalid = onInvalidArg(op, options.onInvalid);
  const onDuplicate = choiceArg(op, 'onDuplicate', ON_DUPLICATE, options.onDuplicate, 'fail');
  for (const flag of ['convertKeys', 'anyOrder'] as const)
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
      throw new InputError(`${op}: '${flag}' must be true or false`, { field: flag });
  const convertKeys = options.convertKeys === true;
  const anyOrder = options.anyOrder === true;
  const reasons = [
    ...(onDuplicate !== 'fail'
      ? [`of entries with the same key only the ${onDuplicate} is kept`]
      : []),
    ...(convertKeys ? ["keys 1 and '1' both become '1'"] : []),
    ...(anyOrder ? ["the entries' order is not kept where keys look like array indexes"] : []),
  ];
  const lossy = reasons.length === 0 ? false : `${reasons.join('; ')}; ${JOURNAL}`;
  const shown = {
    ...entryArgs(keyField, valueField),
    ...(onDuplicate !== 'fail' ? { onDuplicate } : {}),
    ...(convertKeys ? { convertKeys } : {}),
    ...(anyOrder ? { anyOrder } : {}),
    ...onInvalidArgs(onInvalid),
  };
  return defineOperation({
    name: op,
    args: pathArgs(path, shown),
    touches: [path],
    lossy,
    description: `turn the { ${keyField}, ${valueField} } entries ${q(path)} into an object${
      onDuplicate !== 'fail' ? `, keeping the ${onDuplicate} of equal keys` : ''
    }${convertKeys ? ', keys converted to strings' : ''}${anyOrder ? ', in any order' : ''}`,
    onInvalid,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (value === null) return value;
        if (!Array.isArray(value))
          throw fail(
            `expected an array of entries, found ${withArticle(typeOf(value))}`,
            slot.trail,
          );
        const out: Doc = {};
        const keys: string[] = [];
        value.forEach((entry, i) => {
          const trail = [...slot.trail, i];
          const key = entryKey(entry, keyField, valueField, convertKeys, fail, trail);
          if (Object.hasOwn(out, key)) {
            if (onDuplicate === 'fail') throw fail(`the key '${key}' occurs twice`, trail);
            if (onDuplicate === 'first') return;
          } else keys.push(key);
          setOwn(out, key, getOwn(entry as Doc, valueField)!);
        });
        if (!anyOrder && Object.keys(out).some((k, i) => k !== keys[i]))
          throw fail(
            "keys that look like array indexes ('1') come first in an object, so the entries' order could not be restored; pass { anyOrder: true } to accept that",
            slot.trail,
          );
        return out;
      });
    },
    ...(lossy === false ? { inverse: () => objectToArray(path, { keyField, valueField }) } : {}),
  });
}

/** The key of one entry, or a refusal naming the element. */
function entryKey(
  entry: Value,
  keyField: string,
  valueField: string,
  convertKeys: boolean,
  fail: Fail,
  trail: readonly (string | number)[],
): string {
  if (!isPlainObject(entry))
    throw fail(
      `expected an entry { ${keyField}, ${valueField} }, found ${withArticle(typeOf(entry))}`,
      trail,
    );
  const fields = Object.keys(entry);
  if (fields.length !== 2 || !Object.hasOwn(entry, keyField) || !Object.hasOwn(entry, valueField))
    throw fail(
      `expected an entry with exactly the fields '${keyField}' and '${valueField}', found ${fields.map((f) => `'${f}'`).join(', ') || 'none'}`,
      trail,
    );
  const key = getOwn(entry as Doc, keyField)!;
  if (typeof key === 'string') return key;
  if (convertKeys && CONVERTIBLE_KEYS.has(typeOf(key))) {
    const s = convertValue(key, 'string');
    if (s.ok) return s.value as string;
  }
  throw fail(
    `a key must be a string, found ${withArticle(typeOf(key))}${convertKeys ? '' : '; pass { convertKeys: true } to turn numbers into strings'}`,
    [...trail, keyField],
  );
}
