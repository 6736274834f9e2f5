import type { Operation } from './operation.js';
import { copyValue, defineOperation, q } from './operation.js';
import { removeCopy } from './op-remove-copy.js';
import type { ConflictOptions } from './op-rename-field.js';
import { conflictLossy, conflictText, onConflictArg, replaceValue } from './on-conflict.js';
import { forEachScope, fromToPaths, peek, putValue, requireAbsent } from './paths.js';

/**
 * Copy the value of `from` to `to` (a deep copy). With `[]`, copies inside every array element
 * (the array parts must match).
 *
 * Exact: a document where `to` already exists is refused (OperationError) even when `from` is
 * absent, so nothing is overwritten. The inverse is {@link removeCopy}`(from, to)`, which removes
 * `to` after checking it still equals `from`.
 *
 * With `{ onConflict: 'keep' }` an existing `to` keeps its value; with `{ onConflict:
 * 'overwrite' }` the copy replaces it. Both are lossy (see on-conflict.ts): an in-place
 * rollback restores documents from the undo journal.
 *
 * @example copyField('email', 'login')  // { email: 'a@b' } → { email: 'a@b', login: 'a@b' }
 */
export function copyField(from: string, to: string, options: ConflictOptions = {}): Operation {
  const op = 'copyField';
  const { scope, src, dst } = fromToPaths(op, from, to);
  const policy = onConflictArg(op, options.onConflict);
  const lossy = conflictLossy('copy', policy);
  return defineOperation({
    name: op,
    args: policy === 'fail' ? [from, to] : [from, to, { onConflict: policy }],
    touches: [from, to],
    lossy,
    // keep / overwrite: `to` holds its own value or a copy; only running it tells which types
    effects:
      policy === 'fail'
        ? [{ kind: 'copy', from, to }]
        : [
            { kind: 'copy', from, to },
            { kind: 'opaque', path: to },
          ],
    description: `copy ${q(from)} to ${q(to)}${conflictText(policy)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        if (policy === 'fail') requireAbsent(obj, dst, trail, fail);
        const value = peek(obj, src);
        if (peek(obj, dst) !== undefined) {
          if (value !== undefined && policy === 'overwrite')
            replaceValue(obj, dst, copyValue(value));
          return;
        }
        if (value !== undefined) putValue(obj, dst, copyValue(value), trail, fail);
      });
    },
    ...(lossy === false ? { inverse: () => removeCopy(from, to) } : {}),
  });
}
