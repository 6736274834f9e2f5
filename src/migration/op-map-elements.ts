import { InputError } from '../core/errors.js';
import { formatTrail, updateAt } from '../core/field-path.js';
import { isPlainObject, type Doc } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { OperationError } from './operation-error.js';
import { pathArg } from './paths.js';
import { prefixEffects } from './schema-effect.js';

/**
 * Apply `operations`, in order, to every element of the array at `arrayPath`, each element being
 * treated as a document: mapElements('items', renameField('qty', 'quantity'), addField('unit', 'pc')).
 * Elements that are not objects are left alone, and so is a value at `arrayPath` that is not an
 * array (null included). `arrayPath` may itself contain `[]` (`orders[].items`).
 *
 * Exact when every inner operation is; the inverse applies their inverses in reverse order.
 * Lossy (with the inner reason) otherwise. An inner OperationError is reported at the element.
 *
 * @example mapElements('emails', renameField('addr', 'address'), lowercase('address'))
 */
export function mapElements(arrayPath: string, ...operations: Operation[]): Operation {
  const op = 'mapElements';
  const p = pathArg(op, 'arrayPath', arrayPath, { field: true });
  if (operations.length === 0) {
    throw new InputError(`${op}: at least one operation is required`, { field: 'operations' });
  }
  operations.forEach((o, i) => {
    if (typeof o?.apply !== 'function' || typeof o.inverse !== 'function') {
      throw new InputError(`${op}: 'operations[${i}]' is not an operation`, {
        field: `operations[${i}]`,
      });
    }
  });
  const lossyOnes = operations.filter((o) => o.lossy !== false);
  // the description already lists the inner operations: name one in the reason only when there
  // are several to tell apart
  const lossy =
    lossyOnes.length === 0
      ? false
      : operations.length === 1
        ? (lossyOnes[0]!.lossy as string)
        : lossyOnes.map((o) => `${o.describe()}: ${o.lossy as string}`).join('; ');
  return defineOperation({
    name: op,
    args: [arrayPath, ...operations.map((o) => ({ name: o.name, args: o.args }))],
    touches: [arrayPath, ...operations.flatMap((o) => o.touches.map((t) => `${arrayPath}[].${t}`))],
    lossy,
    userInverse: operations.some((o) => o.userInverse),
    effects: operations.flatMap((o) => prefixEffects(o.effects, `${arrayPath}[].`)),
    description: `in each element of ${q(arrayPath)}: ${operations.map((o) => o.describe()).join('; ')}`,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (!Array.isArray(value)) return value;
        return value.map((el, i) => {
          if (!isPlainObject(el)) return el;
          let out = el as Doc;
          for (const inner of operations) {
            try {
              out = inner.apply(out);
            } catch (err) {
              const at = formatTrail([...slot.trail, i]);
              if (!(err instanceof OperationError))
                throw fail(`in element ${at}: ${String(err)}`, undefined, err);
              const inner = err.where === undefined || err.where === '(root)' ? '' : err.where;
              const where =
                inner === '' ? at : inner.startsWith('[') ? at + inner : `${at}.${inner}`;
              throw fail(`${err.operation}: ${err.detail}`, undefined, err, where);
            }
          }
          return out;
        });
      });
    },
    ...(lossy === false
      ? { inverse: () => mapElements(arrayPath, ...operations.map((o) => o.inverse()!).reverse()) }
      : {}),
  });
}
