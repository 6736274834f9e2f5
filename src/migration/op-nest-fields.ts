import { InputError } from '../core/errors.js';
import { setOwn } from '../core/field-path.js';
import type { Doc } from '../core/values.js';
import type { Operation } from './operation.js';
import { defineOperation, q } from './operation.js';
import { unnestField } from './op-unnest-field.js';
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
 * Move the sibling fields `fields` into a new object field `into` beside them, keeping their
 * names: nestFields(['street', 'city'], 'address') turns { street, city } into
 * { address: { street, city } }. All paths must have the same parent (`a.street` with `a.home`;
 * `items[].w` with `items[].size`). Absent fields are skipped; when all are absent nothing
 * changes (no empty object is made).
 *
 * Exact: a document where `into` already exists is refused with an OperationError (even when no
 * field is present). The inverse is `unnestField(into, { fields: <their names> })`.
 *
 * @example nestFields(['street', 'city'], 'address')
 */
export function nestFields(fields: readonly string[], into: string): Operation {
  const op = 'nestFields';
  const sources = pathListArg(op, 'fields', fields, 1);
  const target = pathArg(op, 'into', into, { field: true });
  const { scope, rel } = scopedPaths(op, [
    ...sources.map((s, i) => [`fields[${i}]`, s] as const),
    ['into', target],
  ]);
  const dst = rel[rel.length - 1]!;
  const srcs = rel.slice(0, -1);
  const parent = dst.slice(0, -1).join('.');
  srcs.forEach((s, i) => {
    if (s.slice(0, -1).join('.') !== parent || s.length !== dst.length) {
      throw new InputError(
        `${op}: 'fields[${i}]' ('${fields[i]}') must be a sibling of 'into' ('${into}')`,
        {
          field: `fields[${i}]`,
        },
      );
    }
  });
  const names = srcs.map((s) => s[s.length - 1]!);
  return defineOperation({
    name: op,
    args: [[...fields], into],
    touches: [...fields, into],
    lossy: false,
    effects: fields.map((from, i): SchemaEffect => ({
      kind: 'move',
      from,
      to: `${into}.${names[i]!}`,
    })),
    description: `nest ${q(fields)} into ${q(into)}`,
    mutate(doc, fail) {
      forEachScope(doc, scope, (obj, trail) => {
        requireAbsent(obj, dst, trail, fail);
        const nested: Doc = {};
        srcs.forEach((s, i) => {
          const v = takeValue(obj, s);
          if (v !== undefined) setOwn(nested, names[i]!, v);
        });
        if (Object.keys(nested).length > 0) putValue(obj, dst, nested, trail, fail);
      });
    },
    inverse: () => unnestField(into, { fields: names }),
  });
}
