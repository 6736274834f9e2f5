import { updateAt, withArticle } from '../core/field-path.js';
import { typeOf } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { pathArg } from './paths.js';

/** A lossy string normalization (lowercase, trim): strings change, null stays, others fail. */
export function stringOperation(
  name: string,
  path: string,
  verb: string,
  lossy: string,
  fn: (s: string) => string,
): Operation {
  const p = pathArg(name, 'path', path);
  return defineOperation({
    name,
    args: [path],
    touches: [path],
    lossy,
    effects: [{ kind: 'values', path }],
    description: `${verb} ${q(path)}`,
    mutate(doc, fail) {
      updateAt(doc, p, (value, slot) => {
        if (value === null) return value;
        if (typeof value !== 'string')
          throw fail(`expected a string, found ${withArticle(typeOf(value))}`, slot.trail);
        return fn(value);
      });
    },
  });
}
