import { canonicalEquals } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { copyField } from './op-copy-field.js';
import { forEachScope, fromToPaths, peek, takeValue } from './paths.js';

/**
 * Remove the field `to`, which must be a copy of `from` — the exact inverse of
 * {@link copyField}`(from, to)`. Objects above `to` that the removal leaves empty are removed.
 *
 * Exact. Per document (or element): when both are absent nothing changes; when both are present
 * and canonically equal, `to` is removed; anything else is refused with an OperationError (a
 * `to` that differs from `from`, or only one of them present), because `copyField` could not
 * recreate it.
 *
 * @example removeCopy('email', 'login')  // { email: 'a@b', login: 'a@b' } → { email: 'a@b' }
 */
export function removeCopy(from: string, to: string): Operation {
  const op = 'removeCopy';
  const { scope, src, dst } = fromToPaths(op, from, to);
  return defineOperation({
    name: op,
    args: [from, to],
    touches: [from, to],
    lossy: false,
    effects: [{ kind: 'remove', path: to, copyOf: from }],
    description: `remove ${q(to)}, a copy of ${q(from)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        const original = peek(obj, src);
        const copy = peek(obj, dst);
        if (original === undefined && copy === undefined) return;
        if (original === undefined)
          throw fail(`'${from}' is absent, so this is not a copy of it`, [...trail, ...dst]);
        if (copy === undefined) throw fail('the copy is absent', [...trail, ...dst]);
        if (!canonicalEquals(original, copy))
          throw fail(`the value differs from '${from}'`, [...trail, ...dst]);
        takeValue(obj, dst);
      });
    },
    inverse: () => copyField(from, to),
  });
}
