import type { Operation } from './operation.js';
import { copyValue, defineOperation, q } from './operation.js';
import { removeCopy } from './op-remove-copy.js';
import { forEachScope, fromToPaths, peek, putValue, requireAbsent } from './paths.js';

/**
 * Copy the value of `from` to `to` (a deep copy). With `[]`, copies inside every array element
 * (the array parts must match).
 *
 * Exact: a document where `to` already exists is refused (OperationError) even when `from` is
 * absent, so nothing is overwritten. The inverse is {@link removeCopy}`(from, to)`, which removes
 * `to` after checking it still equals `from`.
 *
 * @example copyField('email', 'login')  // { email: 'a@b' } → { email: 'a@b', login: 'a@b' }
 */
export function copyField(from: string, to: string): Operation {
  const op = 'copyField';
  const { scope, src, dst } = fromToPaths(op, from, to);
  return defineOperation({
    name: op,
    args: [from, to],
    touches: [from, to],
    lossy: false,
    effects: [{ kind: 'copy', from, to }],
    description: `copy ${q(from)} to ${q(to)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        requireAbsent(obj, dst, trail, fail);
        const value = peek(obj, src);
        if (value !== undefined) putValue(obj, dst, copyValue(value), trail, fail);
      });
    },
    inverse: () => removeCopy(from, to),
  });
}
