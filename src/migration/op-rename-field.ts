import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import {
  conflictLossy,
  conflictText,
  onConflictArg,
  replaceValue,
  type OnConflict,
} from './on-conflict.js';
import {
  forEachScope,
  fromToPaths,
  peek,
  putValue,
  renameKeyInPlace,
  requireAbsent,
  takeValue,
} from './paths.js';

/** Options of {@link renameField} and {@link copyField}. */
export interface ConflictOptions {
  /** When `to` already exists: 'fail' (default, exact), 'keep' or 'overwrite' (lossy). */
  onConflict?: OnConflict;
}

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
 * With `{ onConflict: 'keep' }` an existing `to` keeps its value and `from` is dropped; with
 * `{ onConflict: 'overwrite' }` `from`'s value replaces it (MongoDB's `$rename`). Both are lossy
 * (see on-conflict.ts): an in-place rollback restores documents from the undo journal.
 *
 * @example renameField('name', 'fullName')  // { name: 'Ada' } → { fullName: 'Ada' }
 * @example renameField('nick', 'name', { onConflict: 'keep' })  // { nick: 'A', name: 'Ada' } → { name: 'Ada' }
 */
export function renameField(from: string, to: string, options: ConflictOptions = {}): Operation {
  const op = 'renameField';
  const { scope, src, dst } = fromToPaths(op, from, to);
  const policy = onConflictArg(op, options.onConflict);
  const lossy = conflictLossy('rename', policy);
  return defineOperation({
    name: op,
    args: policy === 'fail' ? [from, to] : [from, to, { onConflict: policy }],
    touches: [from, to],
    lossy,
    // keep / overwrite: `to` holds its own value or `from`'s; only running it tells which types
    effects:
      policy === 'fail'
        ? [{ kind: 'move', from, to }]
        : [
            { kind: 'move', from, to },
            { kind: 'opaque', path: to },
          ],
    description: `rename ${q(from)} to ${q(to)}${conflictText(policy)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        if (policy === 'fail') requireAbsent(obj, dst, trail, fail);
        else if (peek(obj, dst) !== undefined) {
          const value = takeValue(obj, src);
          if (value !== undefined && policy === 'overwrite') replaceValue(obj, dst, value);
          return;
        }
        if (src.length === 1 && dst.length === 1) {
          renameKeyInPlace(obj, src[0]!, dst[0]!);
          return;
        }
        const value = takeValue(obj, src);
        if (value !== undefined) putValue(obj, dst, value, trail, fail);
      });
    },
    ...(lossy === false ? { inverse: () => renameField(to, from) } : {}),
  });
}
