import { getOwn, updateAt, withArticle } from '../core/field-path.js';
import { isPlainObject, typeOf } from '../core/values.js';
import { entryArgs, entryFields, makeEntry, pathArgs, type EntryOptions } from './entries.js';
import { arrayToObject } from './op-array-to-object.js';
import { onInvalidArg, onInvalidArgs } from './on-invalid.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { pathArg } from './paths.js';

/** Options of {@link objectToArray}. */
export type ObjectToArrayOptions = EntryOptions;

/**
 * Replace the object at `path` by an array of its entries, in the object's key order:
 * `{ red: 1, blue: 2 }` becomes `[{ k: 'red', v: 1 }, { k: 'blue', v: 2 }]` (MongoDB's
 * `$objectToArray`). Keys become data, so documents can be queried and indexed by them. `null`
 * and absent fields are left alone; `{}` becomes `[]`; any other value is refused with an
 * OperationError (or, with `{ onInvalid: 'skip' }`, the document is left as it is). With `[]`,
 * works per element (`items[].attrs`). `keyField` / `valueField` name the entry's fields.
 *
 * Exact; the inverse is {@link arrayToObject} with the same field names.
 *
 * @example objectToArray('scores')  // { scores: { math: 9 } } → { scores: [{ k: 'math', v: 9 }] }
 */
export function objectToArray(path: string, options: ObjectToArrayOptions = {}): Operation {
  const op = 'objectToArray';
  const p = pathArg(op, 'path', path);
  const { keyField, valueField } = entryFields(op, options);
  const onInvalid = onInvalidArg(op, options.onInvalid);
  const shown = { ...entryArgs(keyField, valueField), ...onInvalidArgs(onInvalid) };
  return defineOperation({
    name: op,
    args: pathArgs(path, shown),
    touches: [path],
    lossy: false,
    description: `turn the object ${q(path)} into an array of { ${keyField}, ${valueField} } entries`,
    onInvalid,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (value === null) return value;
        if (!isPlainObject(value))
          throw fail(`expected an object, found ${withArticle(typeOf(value))}`, slot.trail);
        return Object.keys(value).map((k) => makeEntry(keyField, valueField, k, getOwn(value, k)!));
      });
    },
    inverse: () => arrayToObject(path, { keyField, valueField }),
  });
}
