import { withArticle } from '../core/field-path.js';
import { InputError } from '../core/errors.js';
import { isPlainObject, typeOf, type Doc } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { nestFields } from './op-nest-fields.js';
import { forEachScope, pathArg, peek, putValue, scopedPaths, takeValue } from './paths.js';

/** Options of {@link unnestField}. */
export interface UnnestFieldOptions {
  /**
   * The field names the object may hold. Refuses documents where it holds others, where it is
   * empty, or where it is absent while one of these names is present beside it. Makes the
   * operation exact.
   */
  fields?: readonly string[];
}

/**
 * Move every field of the object at `path` up beside it, and remove `path`:
 * unnestField('address') turns { address: { street, city } } into { street, city }. A field that
 * already exists beside it, or a value at `path` that is not an object, is refused with an
 * OperationError. With `[]`, unnests inside every array element.
 *
 * Lossy without `fields`: which fields came out of the object is not recorded.
 * Exact with `{ fields }`: the inverse is `nestFields(<those fields beside path>, path)`.
 *
 * @example unnestField('address', { fields: ['street', 'city'] })
 */
export function unnestField(path: string, options: UnnestFieldOptions = {}): Operation {
  const op = 'unnestField';
  const p = pathArg(op, 'path', path, { field: true });
  const { scope, rel } = scopedPaths(op, [['path', p]]);
  const src = rel[0]!;
  const fields = options.fields;
  if (fields !== undefined) {
    if (!Array.isArray(fields) || fields.length === 0) {
      throw new InputError(`${op}: 'fields' must be a non-empty array of field names`, {
        field: 'fields',
      });
    }
    fields.forEach((f, i) => {
      if (typeof f !== 'string' || f.length === 0 || /[.[\]]/.test(f) || fields.indexOf(f) !== i) {
        throw new InputError(
          `${op}: 'fields[${i}]' must be a distinct field name without '.', '[' or ']'`,
          {
            field: `fields[${i}]`,
          },
        );
      }
    });
  }
  const prefix = path.slice(0, path.length - src[src.length - 1]!.length);
  const siblings = fields?.map((f) => `${prefix}${f}`);
  return defineOperation({
    name: op,
    args: fields === undefined ? [path] : [path, { fields: [...fields] }],
    touches: [path, ...(siblings ?? [])],
    lossy:
      fields === undefined
        ? 'which fields came out of the object is not recorded; pass { fields } to make it exact'
        : false,
    effects: [{ kind: 'unnest', path, ...(fields !== undefined ? { fields: [...fields] } : {}) }],
    description: `unnest ${q(path)}${fields !== undefined ? ` (fields ${q(fields)})` : ''}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        const here = [...trail, ...src];
        const value = peek(obj, src);
        const up = src.slice(0, -1);
        if (value === undefined) {
          const clash = fields?.find((f) => peek(obj, [...up, f]) !== undefined);
          if (clash !== undefined) throw fail(`absent while '${clash}' is present beside it`, here);
          return;
        }
        if (!isPlainObject(value))
          throw fail(`expected an object, found ${withArticle(typeOf(value))}`, here);
        const inner = value as Doc;
        const keys = Object.keys(inner);
        if (fields !== undefined) {
          const extra = keys.find((k) => !fields.includes(k));
          if (extra !== undefined)
            throw fail(`holds '${extra}', which is not one of the declared fields`, here);
          if (keys.length === 0)
            throw fail('an empty object (nestFields would not recreate it)', here);
        }
        // With declared fields, nestFields would take every one of them back: none may be beside it.
        for (const k of new Set([...keys, ...(fields ?? [])])) {
          if (peek(obj, [...up, k]) !== undefined) {
            throw fail('the field already exists', [...trail, ...up, k]);
          }
        }
        takeValue(obj, src);
        for (const k of fields?.filter((f) => keys.includes(f)) ?? keys) {
          putValue(obj, [...up, k], inner[k]!, trail, fail);
        }
      });
    },
    ...(fields !== undefined ? { inverse: () => nestFields(siblings!, path) } : {}),
  });
}
