import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { unwrapArray } from './op-unwrap-array.js';
import { pathArg } from './paths.js';
import { updateAt } from '../core/field-path.js';

/**
 * Replace the value at `path` by a one-element array holding it: 'a' becomes ['a'], null becomes
 * [null], [1, 2] becomes [[1, 2]]. Absent fields stay absent. With `[]`, wraps every element
 * (`matrix[]`) or the field in every element (`items[].tag`).
 *
 * Exact; the inverse is {@link unwrapArray}.
 *
 * @example wrapInArray('email')  // { email: 'a@b' } → { email: ['a@b'] }
 */
export function wrapInArray(path: string): Operation {
  const op = 'wrapInArray';
  const p = pathArg(op, 'path', path);
  return defineOperation({
    name: op,
    args: [path],
    touches: [path],
    lossy: false,
    effects: [{ kind: 'wrap', path }],
    description: `wrap ${q(path)} in an array`,
    mutate(doc) {
      updateAt(doc, p, (value) => [value]);
    },
    inverse: () => unwrapArray(path),
  });
}
