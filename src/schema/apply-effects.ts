/**
 * The schema a migration's operations produce: the schema of its `from` version with each
 * operation's declared effects (migration/schema-effect.ts) applied in order. Besides the paths
 * and types, every path keeps its *provenance* — the `from` path it was moved or copied from, the
 * default that filled it, the fields it was derived from — because compatibility depends on
 * intent that a bare before/after comparison cannot see: a rename is not a removal plus an
 * unrelated addition, and a new field with a default is not one without.
 *
 * Nothing runs: this works in CI without data. Operations that are `opaque` (mapValue) leave
 * their path with the unknown type; those are settled from samples (check-migrations.ts).
 * With `assumeTouched` (no schema of the `from` version is known), every path an effect touches
 * is taken to exist, be required and have an unknown type — the cautious reading.
 *
 * What each effect means is here; the rules of placing and taking values (which objects appear
 * or go with them) are path-table.ts's.
 */
import { typeOf, toEJSONObject, type Value } from '../core/values.js';
import type { Operation } from '../migration/operation.js';
import type { SchemaEffect } from '../migration/schema-effect.js';
import {
  childPath,
  comparePaths,
  isUnder,
  parentPath,
  replacePrefix,
  UNKNOWN_TYPE,
  type CollectionSchema,
} from './collection-schema.js';
import { SchemaBuilder } from './infer-schema.js';
import { copyEntry, PathTable, type Entry, type Provenance } from './path-table.js';

export type { Provenance } from './path-table.js';

/** Something an operation will do to some documents that the schema alone does not show. */
export interface EffectWarning {
  readonly operation: string;
  readonly path: string;
  readonly message: string;
}

export interface Prediction {
  /** the schema of `from` it started from: the one given, plus what `assumeTouched` took to exist */
  readonly base: CollectionSchema;
  readonly schema: CollectionSchema;
  readonly provenance: ReadonlyMap<string, Provenance>;
  readonly warnings: readonly EffectWarning[];
  /** some operation is opaque: its paths need samples */
  readonly opaque: boolean;
}

export interface PredictOptions {
  /** the schema of `from` is unknown: take every touched path to exist (see the module comment) */
  assumeTouched?: boolean;
}

/** The predicted schema of version `to` after `operations` on `base`. */
export function predictSchema(
  base: CollectionSchema,
  operations: readonly Operation[],
  to: number,
  options: PredictOptions = {},
): Prediction {
  const shape = new PathTable(base);
  const warnings: EffectWarning[] = [];
  let opaque = false;
  for (const op of operations) {
    for (const effect of op.effects) {
      if (options.assumeTouched === true) shape.assume(effect);
      if (effect.kind === 'opaque') opaque = true;
      applyEffect(shape, effect, (path, message) =>
        warnings.push({ operation: op.describe(), path, message }),
      );
    }
  }
  return {
    base:
      shape.assumed.length === 0
        ? base
        : {
            ...base,
            paths: [...base.paths, ...shape.assumed].sort((a, b) => comparePaths(a.path, b.path)),
          },
    schema: shape.toSchema(base.collection, to),
    provenance: shape.provenance(),
    warnings,
    opaque,
  };
}

function applyEffect(
  t: PathTable,
  e: SchemaEffect,
  warn: (path: string, message: string) => void,
): void {
  const refused = (path: string, types: Iterable<string>, keep: (t: string) => boolean) => {
    const bad = [...types].filter((t) => t !== UNKNOWN_TYPE && !keep(t));
    if (bad.length > 0) warn(path, `documents holding ${bad.join(' or ')} here are refused`);
  };
  switch (e.kind) {
    case 'add':
      return add(t, e.path, e.value);
    case 'remove': {
      const taken = t.entries.get(e.path);
      t.delete(e.path);
      if (e.taken === true && taken !== undefined) t.prune(parentPath(e.path), taken.required);
      return;
    }
    case 'move':
    case 'copy': {
      const source = t.entries.get(e.from);
      if (source === undefined) return;
      const from = t.where(e.from);
      const moved = t.subtree(e.from);
      if (e.kind === 'move') t.delete(e.from);
      const required = t.put(e.to, from);
      for (const [path, entry] of moved) {
        const prov: Provenance = e.kind === 'copy' ? { ...entry.prov, copied: true } : entry.prov;
        const at = replacePrefix(path, e.from, e.to);
        t.entries.set(at, {
          ...copyEntry(entry),
          prov,
          ...(at === e.to ? { required } : {}),
        });
      }
      if (required !== source.required) delete t.entries.get(e.to)!.presence;
      if (e.kind === 'move') t.prune(parentPath(e.from), source.required);
      return;
    }
    case 'retype':
      return retype(t, e.path, e.to, e.from, refused);
    case 'derive': {
      const sources = e.from.map((p) => t.entries.get(p));
      if (sources.every((x) => x === undefined)) return;
      e.from.forEach((p, i) => refused(p, sources[i]?.types ?? [], (t) => e.types.includes(t)));
      const wheres = e.from.map((p) => t.where(p));
      const first = wheres[0]!;
      const rel =
        e.presence === 'first'
          ? first.rel
          : e.presence === 'any'
            ? wheres.some((w) => w.rel && w.parent === first.parent)
            : false;
      const chain =
        e.presence === 'partial'
          ? false
          : e.presence === 'first'
            ? first.chain
            : wheres.some((w) => w.chain);
      const required = t.put(e.to, { parent: first.parent, rel, chain });
      const existing = t.entries.get(e.to);
      t.entries.set(e.to, {
        types: new Set([...(existing?.types ?? []), ...e.types]),
        required: required && existing === undefined,
        prov: { derivedFrom: [...e.from] },
      });
      return;
    }
    case 'wrap': {
      const entry = t.entries.get(e.path);
      if (entry === undefined) return;
      const moved = t.subtree(e.path);
      t.delete(e.path);
      for (const [path, x] of moved)
        t.entries.set(replacePrefix(path, e.path, `${e.path}[]`), copyEntry(x));
      const el = t.entries.get(`${e.path}[]`)!;
      el.required = true;
      el.prov = {};
      t.entries.set(e.path, {
        types: new Set(['array']),
        required: entry.required,
        ...(entry.presence !== undefined ? { presence: entry.presence } : {}),
        arrayLength: { min: 1, max: 1 },
        prov: entry.prov,
      });
      return;
    }
    case 'unwrap': {
      const entry = t.entries.get(e.path);
      if (entry === undefined) return;
      refused(e.path, entry.types, (t) => t === 'array');
      const len = entry.arrayLength;
      if (len !== undefined && (len.min !== 1 || len.max !== 1))
        warn(
          e.path,
          `arrays of ${len.min === len.max ? len.min : `${len.min} to ${len.max}`} elements were seen; only one-element arrays are unwrapped, the others refused`,
        );
      const inner = t.subtree(`${e.path}[]`);
      t.delete(e.path);
      for (const [path, x] of inner)
        t.entries.set(replacePrefix(path, `${e.path}[]`, e.path), copyEntry(x));
      // no element was ever seen: what comes out is unknown
      const now = t.entries.get(e.path) ?? {
        types: new Set([UNKNOWN_TYPE]),
        required: true,
        prov: {},
      };
      now.required = entry.required;
      now.prov = entry.prov;
      if (entry.presence !== undefined) now.presence = entry.presence;
      else delete now.presence;
      t.entries.set(e.path, now);
      return;
    }
    case 'unnest': {
      const entry = t.entries.get(e.path);
      if (entry === undefined) return;
      refused(e.path, entry.types, (t) => t === 'object');
      const names =
        e.fields ??
        [...t.entries.keys()]
          .filter((p) => parentPath(p) === e.path && !p.endsWith('[]'))
          .map((p) => p.slice(e.path.length + 1));
      const up = parentPath(e.path);
      const here = t.where(e.path);
      const moves: [string, string, Entry[], [string, Entry][]][] = [];
      for (const name of names) {
        const from = childPath(e.path, name);
        const child = t.entries.get(from);
        if (child === undefined) continue;
        moves.push([from, childPath(up, name), [child], t.subtree(from)]);
      }
      t.delete(e.path);
      for (const [from, to, [child], subtree] of moves) {
        // beside the object, in the same container: there when both the object and it were
        const rel = here.rel && child!.required;
        for (const [path, x] of subtree) {
          const at = replacePrefix(path, from, to);
          t.entries.set(at, { ...copyEntry(x), ...(at === to ? { required: rel } : {}) });
        }
      }
      t.prune(up, entry.required);
      return;
    }
    case 'values': {
      const entry = t.entries.get(e.path);
      if (entry !== undefined) delete entry.examples;
      return;
    }
    case 'opaque': {
      const entry = t.entries.get(e.path);
      if (entry === undefined) return;
      for (const [path] of t.subtree(e.path)) if (path !== e.path) t.entries.delete(path);
      t.entries.set(e.path, {
        types: new Set([UNKNOWN_TYPE]),
        required: entry.required && e.optional !== true,
        prov: { ...entry.prov, opaque: true },
      });
      return;
    }
  }
}

function add(t: PathTable, path: string, value: Value | undefined): void {
  const existing = t.entries.get(path);
  // addField creates the objects above the field in every container, and sets it where absent
  t.put(path, { parent: '\u0000', rel: true, chain: true });
  const entry: Entry = existing ?? { types: new Set(), required: true, prov: {} };
  const filled = existing === undefined || !existing.required;
  entry.required = true;
  delete entry.presence;
  if (value === undefined) {
    entry.types.add(UNKNOWN_TYPE);
    entry.prov = { ...entry.prov, computed: true };
  } else {
    entry.types.add(typeOf(value));
    entry.prov = { ...entry.prov, default: toEJSONObject(value) };
    // what the default holds inside, when it is an object or an array
    const builder = new SchemaBuilder();
    builder.add({ v: value });
    const inDefault = new Set<string>();
    for (const p of builder.build('', 0).paths) {
      if (p.path === 'v') continue;
      const at = replacePrefix(p.path, 'v', path);
      inDefault.add(at);
      const x = t.entries.get(at);
      if (x !== undefined) {
        p.types.forEach((t) => x.types.add(t));
        x.required = x.required && p.required;
      } else
        t.entries.set(at, {
          types: new Set(p.types),
          required: !filled || existing === undefined ? p.required : false,
          prov: {},
        });
    }
    // new instances of the object hold only what the default holds
    if (filled && existing !== undefined)
      for (const [x, child] of t.entries)
        if (x !== path && isUnder(x, path) && !inDefault.has(x) && parentPath(x) === path)
          child.required = false;
  }
  t.entries.set(path, entry);
}

function retype(
  t: PathTable,
  path: string,
  to: string,
  from: string | undefined,
  refused: (path: string, types: Iterable<string>, keep: (t: string) => boolean) => void,
): void {
  const entry = t.entries.get(path);
  if (entry === undefined) return;
  const old = [...entry.types];
  refused(path, old, (t) =>
    from !== undefined ? t === from || t === 'null' : t !== 'object' && t !== 'array',
  );
  for (const [p] of t.subtree(path)) if (p !== path) t.entries.delete(p);
  entry.types = new Set([to, ...old.filter((t) => t === 'null')]);
  delete entry.examples;
  delete entry.arrayLength;
}
