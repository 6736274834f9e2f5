import { deleteAt } from '../core/field-path.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { pathArg } from './paths.js';

/**
 * Remove the field `path` wherever it is present (with `[]`, from every array element:
 * `items[].tmp`). Objects left empty stay, as with MongoDB's `$unset`.
 *
 * Lossy: the removed value is gone; no inverse is offered. (In-place rollbacks still restore it
 * from the undo journal.)
 *
 * @example removeField('legacyId')  // { legacyId: 7, name: 'Ada' } → { name: 'Ada' }
 */
export function removeField(path: string): Operation {
  const op = 'removeField';
  const p = pathArg(op, 'path', path, { field: true });
  return defineOperation({
    name: op,
    args: [path],
    touches: [path],
    lossy: 'the removed value is not kept',
    effects: [{ kind: 'remove', path }],
    description: `remove ${q(path)}`,
    mutate(doc) {
      deleteAt(doc, p);
    },
  });
}
