import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import {
  forEachScope,
  fromToPaths,
  putValue,
  renameKeyInPlace,
  requireAbsent,
  takeValue,
} from './paths.js';

/**
 * Rename the field `from` to `to`. Both may be nested (`a.b` → `c`), and with `[]` they rename
 * inside every array element (`emails[].addr` → `emails[].address`; the array parts must match).
 *
 * Exact. To keep it so, a document (or element) where `to` already exists is refused with an
 * OperationError — even when `from` is absent — so nothing is overwritten and the inverse,
 * `renameField(to, from)`, never has to guess which field was which. Missing objects above `to`
 * are created; objects above `from` that the move leaves empty are removed. A rename within one
 * object keeps the field where it stands, so the round trip restores key order too.
 *
 * @example renameField('name', 'fullName')  // { name: 'Ada' } → { fullName: 'Ada' }
 */
export function renameField(from: string, to: string): Operation {
  const op = 'renameField';
  const { scope, src, dst } = fromToPaths(op, from, to);
  return defineOperation({
    name: op,
    args: [from, to],
    touches: [from, to],
    lossy: false,
    effects: [{ kind: 'move', from, to }],
    description: `rename ${q(from)} to ${q(to)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        requireAbsent(obj, dst, trail, fail);
        if (src.length === 1 && dst.length === 1) {
          renameKeyInPlace(obj, src[0]!, dst[0]!);
          return;
        }
        const value = takeValue(obj, src);
        if (value !== undefined) putValue(obj, dst, value, trail, fail);
      });
    },
    inverse: () => renameField(to, from),
  });
}
