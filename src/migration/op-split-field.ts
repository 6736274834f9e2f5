import { withArticle } from '../core/field-path.js';
import { InputError } from '../core/errors.js';
import { typeOf } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { joinFields } from './op-join-fields.js';
import type { SchemaEffect } from './schema-effect.js';
import {
  forEachScope,
  pathArg,
  pathListArg,
  putValue,
  requireAbsent,
  scopedPaths,
  takeValue,
} from './paths.js';

/**
 * Split the string at `path` on `sep` into the fields `into` (at least two), and remove `path`.
 * It splits at the first `into.length - 1` separators and the last field gets the rest, separators
 * included: 'Mary Ann Smith' into ['first', 'last'] on ' ' gives first 'Mary', last 'Ann Smith'.
 * A string with fewer parts leaves the last fields absent ('Cher' gives only first). With `[]`,
 * splits inside every array element (all paths must share the array part).
 *
 * Exact: the first fields never contain `sep`, so joining them back gives the original. The
 * inverse is `joinFields(into, path, sep, { exact: true })`. A document is refused (OperationError)
 * when any `into` field already exists (even when `path` is absent), or when the value is not a
 * string (`null` included).
 *
 * @example splitField('name', ['first', 'last'], ' ')  // { name: 'Ada Lovelace' } → { first: 'Ada', last: 'Lovelace' }
 */
export function splitField(path: string, into: readonly string[], sep: string): Operation {
  const op = 'splitField';
  const p = pathArg(op, 'path', path, { field: true });
  const targets = pathListArg(op, 'into', into, 2);
  if (typeof sep !== 'string' || sep.length === 0) {
    throw new InputError(`${op}: 'sep' must be a non-empty string`, { field: 'sep' });
  }
  const { scope, rel } = scopedPaths(op, [
    ['path', p],
    ...targets.map((t, i) => [`into[${i}]`, t] as const),
  ]);
  const [src, ...dsts] = rel;
  return defineOperation({
    name: op,
    args: [path, [...into], sep],
    touches: [path, ...into],
    lossy: false,
    effects: [
      ...into.map((to, i): SchemaEffect => ({
        kind: 'derive',
        from: [path],
        to,
        types: ['string'],
        presence: i === 0 ? 'first' : 'partial',
      })),
      { kind: 'remove', path, taken: true },
    ],
    description: `split ${q(path)} on ${JSON.stringify(sep)} into ${q(into)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        for (const d of dsts) requireAbsent(obj, d, trail, fail);
        const value = takeValue(obj, src!);
        if (value === undefined) return;
        if (typeof value !== 'string')
          throw fail(`expected a string, found ${withArticle(typeOf(value))}`, [...trail, ...src!]);
        splitN(value, sep, dsts.length).forEach((part, i) =>
          putValue(obj, dsts[i]!, part, trail, fail),
        );
      });
    },
    inverse: () => joinFields(into, path, sep, { exact: true }),
  });
}

/** Split on the first `n - 1` separators (Go's strings.SplitN). */
function splitN(s: string, sep: string, n: number): string[] {
  const parts: string[] = [];
  let rest = s;
  while (parts.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    parts.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  parts.push(rest);
  return parts;
}
