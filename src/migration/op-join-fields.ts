import { withArticle } from '../core/field-path.js';
import { InputError } from '../core/errors.js';
import { typeOf, type Value } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { splitField } from './op-split-field.js';
import type { SchemaEffect } from './schema-effect.js';
import {
  forEachScope,
  pathArg,
  pathListArg,
  peek,
  putValue,
  requireAbsent,
  scopedPaths,
  takeValue,
} from './paths.js';

/** Options of {@link joinFields}. */
export interface JoinFieldsOptions {
  /**
   * Refuse documents that could not be split back exactly: a part other than the last of
   * `from` that contains `sep`, or a present part after an absent one. Makes the operation exact.
   */
  exact?: boolean;
}

/**
 * Join the strings in the fields `from` (at least two) with `sep` into the field `into`, and
 * remove them. Absent parts are skipped; when all are absent nothing changes. With `[]`, joins
 * inside every array element (all paths must share the array part). A part that is not a string
 * (`null` included) is refused with an OperationError, and so is a document where `into` already
 * exists while there is something to join.
 *
 * Lossy by default: a part that contains `sep` cannot be told apart from two parts
 * (['a b', 'c'] and ['a', 'b c'] both give 'a b c'), and skipped parts are forgotten.
 * Exact with `{ exact: true }` (refusing such documents, and any where `into` exists); the
 * inverse is `splitField(into, from, sep)`.
 *
 * @example joinFields(['first', 'last'], 'name', ' ')  // { first: 'Ada', last: 'Lovelace' } → { name: 'Ada Lovelace' }
 */
export function joinFields(
  from: readonly string[],
  into: string,
  sep: string,
  options: JoinFieldsOptions = {},
): Operation {
  const op = 'joinFields';
  const sources = pathListArg(op, 'from', from, 2);
  const target = pathArg(op, 'into', into, { field: true });
  if (typeof sep !== 'string')
    throw new InputError(`${op}: 'sep' must be a string`, { field: 'sep' });
  const exact = options.exact === true;
  if (exact && sep.length === 0) {
    throw new InputError(`${op}: 'sep' must not be empty with { exact: true }`, { field: 'sep' });
  }
  const { scope, rel } = scopedPaths(op, [
    ...sources.map((s, i) => [`from[${i}]`, s] as const),
    ['into', target],
  ]);
  const dst = rel[rel.length - 1]!;
  const srcs = rel.slice(0, -1);
  return defineOperation({
    name: op,
    args: exact ? [[...from], into, sep, { exact }] : [[...from], into, sep],
    touches: [...from, into],
    lossy: exact
      ? false
      : 'a part that contains the separator cannot be told apart from two parts, and absent parts are forgotten; pass { exact: true } to refuse such documents',
    effects: [
      { kind: 'derive', from: [...from], to: into, types: ['string'], presence: 'any' },
      ...from.map((path): SchemaEffect => ({ kind: 'remove', path, taken: true })),
    ],
    description: `join ${q(from)} with ${JSON.stringify(sep)} into ${q(into)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        if (exact) requireAbsent(obj, dst, trail, fail);
        const parts = srcs.map((s) => peek(obj, s));
        const present = parts.filter((v): v is Value => v !== undefined);
        if (present.length === 0) return;
        parts.forEach((v, i) => {
          const where = [...trail, ...srcs[i]!];
          if (v !== undefined && typeof v !== 'string')
            throw fail(`expected a string, found ${withArticle(typeOf(v))}`, where);
          if (!exact) return;
          if (v === undefined && parts.slice(i).some((x) => x !== undefined)) {
            throw fail(
              'absent, while a later part is present: the join could not be split back',
              where,
            );
          }
          if (typeof v === 'string' && i < parts.length - 1 && v.includes(sep)) {
            throw fail(
              `contains the separator ${JSON.stringify(sep)}: the join could not be split back`,
              where,
            );
          }
        });
        for (const s of srcs) takeValue(obj, s);
        putValue(obj, dst, (present as string[]).join(sep), trail, fail);
      });
    },
    ...(exact ? { inverse: () => splitField(into, from, sep) } : {}),
  });
}
