import { InputError } from '../core/errors.js';
import { visit } from '../core/field-path.js';
import type { Doc, Value } from '../core/values.js';
import type { Operation } from './operation.js';
import { copyValue, defineOperation, q, showArg } from './operation.js';
import { pathArg } from './paths.js';

/** Computes a new field's value from the document (as given) and the object it goes into. */
export type AddFieldFn = (doc: Readonly<Doc>, parent: Readonly<Doc>) => Value;

/**
 * Add the field `path` where it is absent; a present value (even `null`) is left alone.
 * `valueOrFn` is a value (deep-copied into each document) or a function of the document; it must
 * not return `undefined`. Missing objects above the field are created (an object position held
 * by another kind of value is an OperationError); with `[]` the field is added to every array
 * element that is an object (`items[].qty`).
 *
 * Lossy: a document that already had the field is unchanged, so removing the field would not
 * give it back; no inverse is offered.
 *
 * @example addField('tier', 'free')  // { name: 'Ada' } → { name: 'Ada', tier: 'free' }
 */
export function addField(path: string, valueOrFn: Value | AddFieldFn): Operation {
  const op = 'addField';
  const p = pathArg(op, 'path', path, { field: true });
  if (valueOrFn === undefined) {
    throw new InputError(`${op}: 'valueOrFn' is required`, { field: 'valueOrFn' });
  }
  const shown = typeof valueOrFn === 'function' ? 'a computed value' : describeValue(valueOrFn);
  return defineOperation({
    name: op,
    args: [path, showArg(valueOrFn)],
    touches: [path],
    lossy:
      'a document that already has the field is left as it was, so removing the field would not restore it',
    effects: [
      typeof valueOrFn === 'function'
        ? { kind: 'add', path }
        : { kind: 'add', path, value: valueOrFn },
    ],
    description: `add ${q(path)} = ${shown} where absent`,
    mutate(doc, fail, input) {
      visit(
        doc,
        p,
        (slot) => {
          if (slot.present) return;
          if (typeof valueOrFn !== 'function') {
            slot.set(copyValue(valueOrFn));
            return;
          }
          let value: Value;
          try {
            value = valueOrFn(input, slot.parent as Doc);
          } catch (err) {
            throw fail(
              `the value function threw: ${(err as Error)?.message ?? String(err)}`,
              slot.trail,
              err,
            );
          }
          if (value === undefined) throw fail('the value function returned undefined', slot.trail);
          slot.set(value);
        },
        { create: true },
      );
    },
  });
}

function describeValue(v: Value): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
