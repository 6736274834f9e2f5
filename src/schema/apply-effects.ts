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
  SchemaSource,
  UNKNOWN_TYPE,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';
import { SchemaBuilder } from './infer-schema.js';

/** Where a path of the predicted schema came from. */
export interface Provenance {
  /** the `from` path whose value this is (itself when it stayed), absent for new fields */
  readonly origin?: string;
  /** a copy: the origin is still there too */
  readonly copied?: boolean;
  /** filled in where absent with this value (canonical EJSON) */
  readonly default?: unknown;
  /** filled in where absent with a value computed per document */
  readonly computed?: boolean;
  /** computed from these fields (split, join) */
  readonly derivedFrom?: readonly string[];
  /** changed by code only running it can describe (mapValue) */
  readonly opaque?: boolean;
  /** an object made only to hold fields moved or put into it (nest, a rename into `a.b`) */
  readonly container?: boolean;
}

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

interface Entry {
  types: Set<string>;
  required: boolean;
  presence?: number;
  examples?: readonly unknown[];
  arrayLength?: { min: number; max: number };
  prov: Provenance;
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
  const shape = new Shape(base);
  let opaque = false;
  for (const op of operations) {
    for (const effect of op.effects) {
      if (options.assumeTouched === true) shape.assume(effect);
      if (effect.kind === 'opaque') opaque = true;
      shape.apply(effect, op.describe());
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
    warnings: shape.warnings,
    opaque,
  };
}

class Shape {
  readonly #paths = new Map<string, Entry>();
  readonly warnings: EffectWarning[] = [];
  /** paths `assume` took to exist */
  readonly assumed: PathSchema[] = [];

  constructor(base: CollectionSchema) {
    for (const p of base.paths) {
      this.#paths.set(p.path, {
        types: new Set(p.types),
        required: p.required,
        ...(p.presence !== undefined ? { presence: p.presence } : {}),
        ...(p.examples !== undefined ? { examples: p.examples } : {}),
        ...(p.counts?.arrayLength !== undefined
          ? { arrayLength: { ...p.counts.arrayLength } }
          : {}),
        prov: { origin: p.path },
      });
    }
  }

  /** Take the paths an effect reads to exist, when nothing is known about them. */
  assume(e: SchemaEffect): void {
    const reads =
      e.kind === 'move' || e.kind === 'copy'
        ? [e.from]
        : e.kind === 'derive'
          ? [...e.from]
          : e.kind === 'add'
            ? []
            : [e.path];
    for (const path of reads) {
      if (this.#paths.has(path)) continue;
      const seed = (p: string, type: string): void => {
        this.#paths.set(p, { types: new Set([type]), required: true, prov: { origin: p } });
        this.assumed.push({ path: p, types: [type], required: true });
      };
      for (let p = parentPath(path); p !== '' && !this.#paths.has(p); p = parentPath(p))
        seed(p, p.endsWith('[]') ? UNKNOWN_TYPE : 'object');
      seed(path, UNKNOWN_TYPE);
    }
  }

  apply(e: SchemaEffect, operation: string): void {
    const warn = (path: string, message: string): void => {
      this.warnings.push({ operation, path, message });
    };
    const refused = (path: string, types: Iterable<string>, keep: (t: string) => boolean) => {
      const bad = [...types].filter((t) => t !== UNKNOWN_TYPE && !keep(t));
      if (bad.length > 0) warn(path, `documents holding ${bad.join(' or ')} here are refused`);
    };
    switch (e.kind) {
      case 'add':
        return this.#add(e.path, e.value);
      case 'remove': {
        const taken = this.#paths.get(e.path);
        this.#delete(e.path);
        if (e.taken === true && taken !== undefined)
          this.#prune(parentPath(e.path), taken.required);
        return;
      }
      case 'move':
      case 'copy': {
        const source = this.#paths.get(e.from);
        if (source === undefined) return;
        const from = this.#where(e.from);
        const moved = this.#subtree(e.from);
        if (e.kind === 'move') this.#delete(e.from);
        const required = this.#put(e.to, from);
        for (const [path, entry] of moved) {
          const prov: Provenance = e.kind === 'copy' ? { ...entry.prov, copied: true } : entry.prov;
          const at = replacePrefix(path, e.from, e.to);
          this.#paths.set(at, {
            ...copyEntry(entry),
            prov,
            ...(at === e.to ? { required } : {}),
          });
        }
        if (required !== source.required) delete this.#paths.get(e.to)!.presence;
        if (e.kind === 'move') this.#prune(parentPath(e.from), source.required);
        return;
      }
      case 'retype':
        return this.#retype(e.path, e.to, e.from, refused);
      case 'derive': {
        const sources = e.from.map((p) => this.#paths.get(p));
        if (sources.every((x) => x === undefined)) return;
        e.from.forEach((p, i) => refused(p, sources[i]?.types ?? [], (t) => e.types.includes(t)));
        const wheres = e.from.map((p) => this.#where(p));
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
        const required = this.#put(e.to, { parent: first.parent, rel, chain });
        const existing = this.#paths.get(e.to);
        this.#paths.set(e.to, {
          types: new Set([...(existing?.types ?? []), ...e.types]),
          required: required && existing === undefined,
          prov: { derivedFrom: [...e.from] },
        });
        return;
      }
      case 'wrap': {
        const entry = this.#paths.get(e.path);
        if (entry === undefined) return;
        const moved = this.#subtree(e.path);
        this.#delete(e.path);
        for (const [path, x] of moved)
          this.#paths.set(replacePrefix(path, e.path, `${e.path}[]`), copyEntry(x));
        const el = this.#paths.get(`${e.path}[]`)!;
        el.required = true;
        el.prov = {};
        this.#paths.set(e.path, {
          types: new Set(['array']),
          required: entry.required,
          ...(entry.presence !== undefined ? { presence: entry.presence } : {}),
          arrayLength: { min: 1, max: 1 },
          prov: entry.prov,
        });
        return;
      }
      case 'unwrap': {
        const entry = this.#paths.get(e.path);
        if (entry === undefined) return;
        refused(e.path, entry.types, (t) => t === 'array');
        const len = entry.arrayLength;
        if (len !== undefined && (len.min !== 1 || len.max !== 1))
          warn(
            e.path,
            `arrays of ${len.min === len.max ? len.min : `${len.min} to ${len.max}`} elements were seen; only one-element arrays are unwrapped, the others refused`,
          );
        const inner = this.#subtree(`${e.path}[]`);
        this.#delete(e.path);
        for (const [path, x] of inner)
          this.#paths.set(replacePrefix(path, `${e.path}[]`, e.path), copyEntry(x));
        // no element was ever seen: what comes out is unknown
        const now = this.#paths.get(e.path) ?? {
          types: new Set([UNKNOWN_TYPE]),
          required: true,
          prov: {},
        };
        now.required = entry.required;
        now.prov = entry.prov;
        if (entry.presence !== undefined) now.presence = entry.presence;
        else delete now.presence;
        this.#paths.set(e.path, now);
        return;
      }
      case 'unnest': {
        const entry = this.#paths.get(e.path);
        if (entry === undefined) return;
        refused(e.path, entry.types, (t) => t === 'object');
        const names =
          e.fields ??
          [...this.#paths.keys()]
            .filter((p) => parentPath(p) === e.path && !p.endsWith('[]'))
            .map((p) => p.slice(e.path.length + 1));
        const up = parentPath(e.path);
        const here = this.#where(e.path);
        const moves: [string, string, Entry[], [string, Entry][]][] = [];
        for (const name of names) {
          const from = childPath(e.path, name);
          const child = this.#paths.get(from);
          if (child === undefined) continue;
          moves.push([from, childPath(up, name), [child], this.#subtree(from)]);
        }
        this.#delete(e.path);
        for (const [from, to, [child], subtree] of moves) {
          // beside the object, in the same container: there when both the object and it were
          const rel = here.rel && child!.required;
          for (const [path, x] of subtree) {
            const at = replacePrefix(path, from, to);
            this.#paths.set(at, { ...copyEntry(x), ...(at === to ? { required: rel } : {}) });
          }
        }
        this.#prune(up, entry.required);
        return;
      }
      case 'values': {
        const entry = this.#paths.get(e.path);
        if (entry !== undefined) delete entry.examples;
        return;
      }
      case 'opaque': {
        const entry = this.#paths.get(e.path);
        if (entry === undefined) return;
        for (const [path] of this.#subtree(e.path)) if (path !== e.path) this.#paths.delete(path);
        this.#paths.set(e.path, {
          types: new Set([UNKNOWN_TYPE]),
          required: entry.required,
          prov: { ...entry.prov, opaque: true },
        });
        return;
      }
    }
  }

  /**
   * Where a path's values are, seen from the container the operation works in (the document, or
   * each element of the last `[]`): its parent path, whether every parent holds it (`rel`), and
   * whether every container holds it, through every object above it (`chain`).
   */
  #where(path: string): Where {
    const entry = this.#paths.get(path);
    let chain = entry?.required === true;
    for (let p = parentPath(path); chain && p !== '' && !p.endsWith('[]'); p = parentPath(p)) {
      const above = this.#paths.get(p);
      chain = above?.required === true && above.types.size === 1 && above.types.has('object');
    }
    return { parent: parentPath(path), rel: entry?.required === true, chain };
  }

  /**
   * Make room for a value put at `to` from a value at `from` (putValue creates the objects above
   * it): returns whether `to` is then in every object that holds it. Objects above it that gain
   * instances (created where they were absent) no longer have their other fields in every
   * instance.
   */
  #put(to: string, from: Where): boolean {
    const parent = parentPath(to);
    if (parent === from.parent) return from.rel; // the same object: as present as the source
    const chain: string[] = [];
    for (let p = parent; p !== '' && !p.endsWith('[]'); p = parentPath(p)) chain.unshift(p);
    let gains = false; // objects on the way get new instances from here down
    let made = false; // the object that holds `to` is made here, only for it
    for (const p of chain) {
      const entry = this.#paths.get(p);
      if (entry === undefined) {
        // made exactly where the value is put: in every instance of its parent if that was made
        // here too, else where the source is
        this.#paths.set(p, {
          types: new Set(['object']),
          required: made ? true : from.chain,
          prov: { container: true },
        });
        made = true;
        gains = true;
        continue;
      }
      made = false;
      entry.types.add('object');
      if (gains || !entry.required) {
        gains = true;
        if (from.chain && !entry.required) {
          entry.required = true;
          delete entry.presence;
        }
        for (const [x, child] of this.#paths)
          if (parentPath(x) === p && !chain.includes(x) && x !== to) child.required = false;
      }
    }
    return made ? true : from.chain;
  }

  #add(path: string, value: Value | undefined): void {
    const existing = this.#paths.get(path);
    // addField creates the objects above the field in every container, and sets it where absent
    this.#put(path, { parent: '\u0000', rel: true, chain: true });
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
        const x = this.#paths.get(at);
        if (x !== undefined) {
          p.types.forEach((t) => x.types.add(t));
          x.required = x.required && p.required;
        } else
          this.#paths.set(at, {
            types: new Set(p.types),
            required: !filled || existing === undefined ? p.required : false,
            prov: {},
          });
      }
      // new instances of the object hold only what the default holds
      if (filled && existing !== undefined)
        for (const [x, child] of this.#paths)
          if (x !== path && isUnder(x, path) && !inDefault.has(x) && parentPath(x) === path)
            child.required = false;
    }
    this.#paths.set(path, entry);
  }

  #retype(
    path: string,
    to: string,
    from: string | undefined,
    refused: (path: string, types: Iterable<string>, keep: (t: string) => boolean) => void,
  ): void {
    const entry = this.#paths.get(path);
    if (entry === undefined) return;
    const old = [...entry.types];
    refused(path, old, (t) =>
      from !== undefined ? t === from || t === 'null' : t !== 'object' && t !== 'array',
    );
    for (const [p] of this.#subtree(path)) if (p !== path) this.#paths.delete(p);
    entry.types = new Set([to, ...old.filter((t) => t === 'null')]);
    delete entry.examples;
    delete entry.arrayLength;
  }

  /** Entries at and under `path`, in path order. */
  #subtree(path: string): [string, Entry][] {
    return [...this.#paths].filter(([p]) => isUnder(p, path));
  }

  #delete(path: string): void {
    for (const p of [...this.#paths.keys()]) if (isUnder(p, path)) this.#paths.delete(p);
  }

  /**
   * A value taken out of an object may leave it empty, and takeValue removes the objects it
   * empties. `takenRequired`: every instance held the value taken. An object left without fields
   * then goes (every instance was emptied); one left without a field that is always there may go
   * in some documents, so it is no longer always there — and so on up to the container.
   */
  #prune(path: string, takenRequired: boolean): void {
    let emptiedAll = takenRequired;
    for (let p = path; p !== '' && !p.endsWith('[]'); p = parentPath(p)) {
      const entry = this.#paths.get(p);
      if (entry === undefined) return;
      const children = [...this.#paths].filter(([x]) => x !== p && parentPath(x) === p);
      if (children.some(([, c]) => c.required)) return;
      const onlyObject = entry.types.size === 1 && entry.types.has('object');
      if (children.length === 0 && emptiedAll && onlyObject) {
        emptiedAll = entry.required;
        this.#paths.delete(p);
        continue;
      }
      emptiedAll = false;
      entry.required = false;
      delete entry.presence;
    }
  }

  provenance(): Map<string, Provenance> {
    return new Map([...this.#paths].map(([p, e]) => [p, e.prov]));
  }

  toSchema(collection: string, version: number): CollectionSchema {
    const paths: PathSchema[] = [...this.#paths]
      .map(([path, e]) => ({
        path,
        types: [...e.types].sort(comparePaths),
        required: e.required,
        ...(e.presence !== undefined ? { presence: e.presence } : {}),
        ...(e.examples !== undefined ? { examples: e.examples } : {}),
        ...(e.prov.default !== undefined ? { default: e.prov.default } : {}),
      }))
      .sort((a, b) => comparePaths(a.path, b.path));
    return { collection, version, source: SchemaSource.predicted, paths };
  }
}

interface Where {
  readonly parent: string;
  readonly rel: boolean;
  readonly chain: boolean;
}

function copyEntry(e: Entry): Entry {
  return {
    ...e,
    types: new Set(e.types),
    ...(e.arrayLength !== undefined ? { arrayLength: { ...e.arrayLength } } : {}),
  };
}
