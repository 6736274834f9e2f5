import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { unwrapArray } from './op-unwrap-array.js';
import { pathArg } from './paths.js';
import { updateAt } from '../core/field-path.js';

/** Options of {@link wrapInArray}. */
export interface WrapInArrayOptions {
  /** Leave values that are already arrays as they are: 'a' becomes ['a'], ['a'] stays ['a']. */
  unlessArray?: boolean;
}

/**
 * Replace the value at `path` by a one-element array holding it: 'a' becomes ['a'], null becomes
 * [null], [1, 2] becomes [[1, 2]]. Absent fields stay absent. With `[]`, wraps every element
 * (`matrix[]`) or the field in every element (`items[].tag`).
 *
 * Exact; the inverse is {@link unwrapArray}.
 * With `{ unlessArray: true }` arrays stay as they are (a field that holds "one or many"
 * becomes "always many"). Lossy then: 'a' and ['a'] both end up ['a'], so no inverse can tell
 * which to unwrap; an in-place rollback restores each document from the undo journal.
 *
 * @example wrapInArray('email')                          // { email: 'a@b' } → { email: ['a@b'] }
 * @example wrapInArray('tags', { unlessArray: true })    // { tags: ['x'] } stays
 */
export function wrapInArray(path: string, options: WrapInArrayOptions = {}): Operation {
  const op = 'wrapInArray';
  const p = pathArg(op, 'path', path);
  const unlessArray = options.unlessArray === true;
  return defineOperation({
    name: op,
    args: unlessArray ? [path, { unlessArray }] : [path],
    touches: [path],
    lossy: unlessArray
      ? "a value and a one-element array holding it both end up as that array ('a' and ['a'] give ['a']); an in-place rollback restores each document from the undo journal"
      : false,
    // unlessArray: arrays are left alone, so the element paths are not all one level deeper
    effects: unlessArray ? [{ kind: 'opaque', path }] : [{ kind: 'wrap', path }],
    description: unlessArray
      ? `wrap ${q(path)} in an array unless it is one`
      : `wrap ${q(path)} in an array`,
    mutate(doc) {
      updateAt(doc, p, (value) => (unlessArray && Array.isArray(value) ? value : [value]));
    },
    ...(unlessArray ? {} : { inverse: () => unwrapArray(path) }),
  });
}
