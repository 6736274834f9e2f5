import { updateAt, withArticle } from '../core/field-path.js';
import { typeOf } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { wrapInArray } from './op-wrap-in-array.js';
import { pathArg } from './paths.js';

/**
 * Replace the one-element array at `path` by its element: ['a'] becomes 'a'. Anything else — an
 * empty array, several elements, a value that is not an array (null included) — is refused with
 * an OperationError: it has no single element to keep, and leaving it as it is would make the
 * rollback wrap it. Absent fields stay absent. With `[]`, works per element.
 *
 * Exact; the inverse is {@link wrapInArray}.
 *
 * @example unwrapArray('email')  // { email: ['a@b'] } → { email: 'a@b' }
 */
export function unwrapArray(path: string): Operation {
  const op = 'unwrapArray';
  const p = pathArg(op, 'path', path);
  return defineOperation({
    name: op,
    args: [path],
    touches: [path],
    lossy: false,
    effects: [{ kind: 'unwrap', path }],
    description: `unwrap the one-element array ${q(path)}`,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (!Array.isArray(value))
          throw fail(
            `expected a one-element array, found ${withArticle(typeOf(value))}`,
            slot.trail,
          );
        if (value.length !== 1)
          throw fail(`expected a one-element array, found ${value.length} elements`, slot.trail);
        return value[0]!;
      });
    },
    inverse: () => wrapInArray(path),
  });
}
