import { InputError } from '../core/errors.js';
import { updateAt } from '../core/field-path.js';
import type { Doc, Value } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { pathArg } from './paths.js';

/** A user function over one value; gets the document as given (read-only) too. */
export type MapValueFn = (value: Value, doc: Readonly<Doc>) => Value;

/**
 * Replace every value present at `path` (null included; absent fields are not visited) by
 * `fn(value, doc)`. With `[]`: `prices[]`, `items[].sku`. A function that throws or returns
 * `undefined` makes an OperationError (the thrown error is its `cause`).
 *
 * Lossy without `inverseFn`. With `inverseFn` it is declared exact, with `userInverse: true`:
 * the library cannot prove that `inverseFn(fn(v))` is `v` — `plan` checks it on sample documents
 * only. The inverse is `mapValue(path, inverseFn, fn)`.
 *
 * @example mapValue('price', (v) => Math.round(v * 100), (v) => v / 100)  // dollars → cents
 */
export function mapValue(path: string, fn: MapValueFn, inverseFn?: MapValueFn): Operation {
  const op = 'mapValue';
  const p = pathArg(op, 'path', path);
  if (typeof fn !== 'function')
    throw new InputError(`${op}: 'fn' must be a function`, { field: 'fn' });
  if (inverseFn !== undefined && typeof inverseFn !== 'function') {
    throw new InputError(`${op}: 'inverseFn' must be a function when given`, {
      field: 'inverseFn',
    });
  }
  const label = fn.name !== '' ? fn.name : 'a function';
  return defineOperation({
    name: op,
    args: inverseFn === undefined ? [path, '[function]'] : [path, '[function]', '[function]'],
    touches: [path],
    lossy: inverseFn === undefined ? 'a function without an inverse cannot be undone' : false,
    userInverse: inverseFn !== undefined,
    effects: [{ kind: 'opaque', path }],
    description: `map ${q(path)} with ${label}`,
    mutate(doc, fail, input) {
      updateAt(doc, p, (value, slot) => {
        let out: Value;
        try {
          out = fn(value, input);
        } catch (err) {
          throw fail(
            `the function threw: ${err instanceof Error ? err.message : String(err)}`,
            slot.trail,
            err,
          );
        }
        if (out === undefined) throw fail('the function returned undefined', slot.trail);
        return out;
      });
    },
    ...(inverseFn !== undefined ? { inverse: () => mapValue(path, inverseFn, fn) } : {}),
  });
}
