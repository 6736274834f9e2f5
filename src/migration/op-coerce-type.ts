import { InputError } from '../core/errors.js';
import { updateAt, withArticle } from '../core/field-path.js';
import { canonicalString, typeOf } from '../core/values.js';
import { COERCE_TYPES, convertValue, type CoerceType, type Converted } from './coerce-values.js';
import { compileDateFormat, type DateFormat } from './date-format.js';
import { onInvalidArg, onInvalidArgs, type OnInvalid } from './on-invalid.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { pathArg } from './paths.js';

export { COERCE_TYPES, type CoerceType } from './coerce-values.js';

/** Options of {@link coerceType}. */
export interface CoerceTypeOptions {
  /**
   * Convert only values of this type, and only when converting back gives the same value;
   * anything else is refused. This makes the operation exact.
   */
  from?: CoerceType;
  /**
   * The format of dates written as strings (date-format.ts), for 'date' (parsing strings) and
   * 'string' (writing dates): `'YYYY-MM-DD HH:mm:ss [UTC]'` reads "2025-06-20 15:53:31 UTC".
   */
  format?: string;
  /** A value that does not convert: 'fail' (default) refuses the document, 'skip' leaves it. */
  onInvalid?: OnInvalid;
}

/**
 * Convert the value at `path` to `type`: 'string' | 'int' | 'long' | 'double' | 'decimal' |
 * 'bool' | 'date' | 'objectId'. Values already of that type, `null` and absent fields are left
 * alone. Dates convert from ISO 8601 strings (UTC when no offset is given) and from epoch
 * milliseconds (int, long, integral double or decimal), and to ISO strings and epoch ms.
 * A conversion never changes the value itself — 7.5 to int, "abc" to int, a Long beyond 2^53 to
 * double, 2 to bool all throw an OperationError naming the path and the value's type.
 *
 * Lossy without `from`: the original type is forgotten ("7", 7 and 7.0 all become the int 7),
 * and so is the spelling ("007" becomes 7).
 * Exact with `{ from }`: only values of type `from` are converted, and only those that convert
 * back to exactly themselves ("007" and "7.50" are refused); the inverse is
 * `coerceType(path, from, { from: type })`.
 *
 * @example coerceType('age', 'int')                       // { age: '42' } → { age: 42 }
 * @example coerceType('id', 'string', { from: 'objectId' }) // ObjectId('64b…') → '64b…'
 * @example coerceType('at', 'date', { from: 'string', format: 'YYYY-MM-DD HH:mm:ss [UTC]' })
 *
 * With `format`, strings convert to dates (and dates to strings) in that format only (UTC
 * unless it has `Z`); exact with `{ from }`, the inverse writing the same format. With
 * `{ onInvalid: 'skip' }` a document whose value does not convert is left as it is (counted as
 * skipped) instead of refused.
 */
export function coerceType(
  path: string,
  type: CoerceType,
  options: CoerceTypeOptions = {},
): Operation {
  const op = 'coerceType';
  const p = pathArg(op, 'path', path);
  checkType(op, 'type', type);
  const from = options.from;
  const onInvalid = onInvalidArg(op, options.onInvalid);
  let format: DateFormat | undefined;
  if (options.format !== undefined) {
    if (type !== 'date' && type !== 'string')
      throw new InputError(`${op}: 'format' is for 'date' and 'string' (got '${type}')`, {
        field: 'format',
      });
    format = compileDateFormat(op, options.format);
  }
  const convert = (value: unknown, to: CoerceType): Converted => {
    if (format !== undefined && to === 'date' && typeof value === 'string') {
      const d = format.parse(value);
      return typeof d === 'string' ? { ok: false, reason: d } : { ok: true, value: d };
    }
    if (format !== undefined && to === 'string' && value instanceof Date)
      return Number.isNaN(value.getTime())
        ? { ok: false, reason: 'an invalid date' }
        : { ok: true, value: format.format(value) };
    return convertValue(value as never, to);
  };
  const shown = {
    ...(from !== undefined ? { from } : {}),
    ...(format !== undefined ? { format: format.text } : {}),
    ...onInvalidArgs(onInvalid),
  };
  if (from !== undefined) {
    checkType(op, 'from', from);
    if (from === type)
      throw new InputError(`${op}: 'from' and 'type' are both '${type}'`, { field: 'from' });
  }
  return defineOperation({
    name: op,
    args: Object.keys(shown).length === 0 ? [path, type] : [path, type, shown],
    touches: [path],
    lossy:
      from === undefined
        ? `values of several types (and spellings such as '007' and '7') become the same ${type}; pass { from } to make it exact`
        : false,
    effects: [{ kind: 'retype', path, to: type, ...(from !== undefined ? { from } : {}) }],
    description: `coerce ${q(path)} to ${type}${from !== undefined ? ` from ${from}` : ''}${format !== undefined ? ` (format ${format.text})` : ''}`,
    onInvalid,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (value === null) return value;
        if (from !== undefined && typeOf(value) !== from) {
          throw fail(
            `expected ${withArticle(from)}, found ${withArticle(typeOf(value))}`,
            slot.trail,
          );
        }
        const out = convert(value, type);
        if (!out.ok)
          throw fail(
            `cannot convert ${withArticle(typeOf(value))} to ${type}: ${out.reason}`,
            slot.trail,
          );
        if (from !== undefined) {
          const back = convert(out.value, from);
          if (!back.ok || canonicalString(back.value) !== canonicalString(value)) {
            throw fail(
              `the ${from} would not convert back to itself from ${type}, so the change could not be undone`,
              slot.trail,
            );
          }
        }
        return out.value;
      });
    },
    ...(from !== undefined
      ? {
          inverse: () =>
            coerceType(path, from, {
              from: type,
              ...(format !== undefined ? { format: format.text } : {}),
            }),
        }
      : {}),
  });
}

function checkType(op: string, arg: string, t: unknown): void {
  if (!(COERCE_TYPES as readonly unknown[]).includes(t)) {
    throw new InputError(
      `${op}: '${arg}' must be one of ${COERCE_TYPES.join(', ')} (got ${JSON.stringify(t)})`,
      {
        field: arg,
      },
    );
  }
}
