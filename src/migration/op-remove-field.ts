import { deleteAt, slotsOf } from '../core/field-path.js';
import { isPlainObject, type Value } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { choiceArg } from './option-arg.js';
import { pathArg } from './paths.js';

/** Which values {@link removeField} removes: every value, or only null / empty ones. */
export const REMOVE_WHEN = ['null', 'empty'] as const;
export type RemoveWhen = (typeof REMOVE_WHEN)[number];

/** Options of {@link removeField}. */
export interface RemoveFieldOptions {
  /**
   * Remove the field only when its value is `null` ('null'), or null, `''`, `[]` or `{}`
   * ('empty'); other values stay. Without it every value is removed.
   */
  when?: RemoveWhen;
}

/**
 * Remove the field `path` wherever it is present (with `[]`, from every array element:
 * `items[].tmp`). Objects left empty stay, as with MongoDB's `$unset`. With `{ when: 'null' }`
 * or `{ when: 'empty' }` only null (or empty) values are removed — an option rather than an
 * operation of its own, because it is the same change (a field goes) with a narrower guard, and
 * its inverse story is the same.
 *
 * Lossy: the removed value is gone; no inverse is offered. With `when`, a field that held null
 * (or '', [], {}) and a field that was absent end up alike, and which empty value it was is
 * forgotten. In-place rollbacks restore each document exactly from the undo journal.
 *
 * @example removeField('legacyId')                  // { legacyId: 7, name: 'Ada' } → { name: 'Ada' }
 * @example removeField('note', { when: 'empty' })  // { note: '' } → {}; { note: 'hi' } stays
 */
export function removeField(path: string, options: RemoveFieldOptions = {}): Operation {
  const op = 'removeField';
  const p = pathArg(op, 'path', path, { field: true });
  const when = choiceArg(op, 'when', REMOVE_WHEN, options.when, undefined);
  const removes = when === 'null' ? isNull : when === 'empty' ? isEmpty : undefined;
  return defineOperation({
    name: op,
    args: when === undefined ? [path] : [path, { when }],
    touches: [path],
    lossy:
      when === undefined
        ? 'the removed value is not kept'
        : `a field that was ${when === 'null' ? 'null' : "null, '', [] or {}"} and a field that was absent end up alike; an in-place rollback restores each document from the undo journal`,
    // with `when` the field stays in some documents, with its other types
    effects:
      when === undefined ? [{ kind: 'remove', path }] : [{ kind: 'opaque', path, optional: true }],
    description:
      when === undefined
        ? `remove ${q(path)}`
        : `remove ${q(path)} when ${when === 'null' ? 'null' : "empty (null, '', [] or {})"}`,
    mutate(doc) {
      if (removes === undefined) {
        deleteAt(doc, p);
        return;
      }
      for (const slot of slotsOf(doc, p)) {
        const value = slot.get();
        if (value !== undefined && removes(value) && !Array.isArray(slot.parent))
          delete (slot.parent as Record<string, unknown>)[slot.key as string];
      }
    },
  });
}

function isNull(v: Value): boolean {
  return v === null;
}

function isEmpty(v: Value): boolean {
  if (v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return isPlainObject(v) && Object.keys(v).length === 0;
}
