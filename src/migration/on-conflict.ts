/**
 * The `onConflict` policy of the two-field operations (renameField, copyField): what to do when
 * the target field already exists.
 *   - 'fail' (the default): refuse the document (OperationError; the backfill dead-letters it).
 *     The only exact policy: nothing is overwritten, so the inverse never has to guess.
 *   - 'keep': the target keeps its value (a rename drops the source, a copy leaves it).
 *   - 'overwrite': the source's value replaces the target's.
 * 'keep' and 'overwrite' are lossy (each reason says which documents end up alike); an in-place
 * rollback restores every document exactly from the undo journal, which holds each document as
 * it was before the backfill wrote it.
 */
import { choiceArg } from './option-arg.js';
import { getOwn, setOwn } from '../core/field-path.js';
import { isPlainObject, type Doc, type Value } from '../core/values.js';

export const ON_CONFLICT = ['fail', 'keep', 'overwrite'] as const;
export type OnConflict = (typeof ON_CONFLICT)[number];

/** The checked `onConflict` option (default 'fail'); InputError naming the operation. */
export function onConflictArg(op: string, value: unknown): OnConflict {
  return choiceArg(op, 'onConflict', ON_CONFLICT, value, 'fail');
}

/** The journal sentence every non-exact policy ends with. */
const JOURNAL = 'an in-place rollback restores each document exactly from the undo journal';

/** Why `op` with this policy has no exact inverse (false for 'fail'). */
export function conflictLossy(verb: 'rename' | 'copy', policy: OnConflict): false | string {
  if (policy === 'fail') return false;
  if (policy === 'overwrite')
    return `where the target already existed its old value is overwritten and not kept; ${JOURNAL}`;
  return verb === 'rename'
    ? `where the target already existed it keeps its value and the source's value is dropped; ${JOURNAL}`
    : `where the target already existed it keeps its value, so a target that already equalled the source cannot be told from a copy; ${JOURNAL}`;
}

/** ` (target exists: keep it)` for descriptions; empty for 'fail'. */
export function conflictText(policy: OnConflict): string {
  if (policy === 'fail') return '';
  return policy === 'keep' ? ', keeping an existing target' : ', overwriting an existing target';
}

/** Replace the value of an existing field at a relative path (its parents exist). */
export function replaceValue(obj: Doc, keys: readonly string[], value: Value): void {
  let node: Doc = obj;
  for (const k of keys.slice(0, -1)) {
    const next = getOwn(node, k);
    if (!isPlainObject(next)) return;
    node = next as Doc;
  }
  setOwn(node, keys[keys.length - 1]!, value);
}
