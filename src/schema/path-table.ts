/**
 * A schema being changed, path by path: the working state of apply-effects.ts. It knows the
 * rules of *placing* a value — what the objects above a field become when a value is put at a
 * path (putValue creates them), what happens to the objects a value is taken out of (takeValue
 * removes those it empties) — in the relative terms of a schema, where `required` means "in every
 * object that could hold it". The meaning of each effect is apply-effects.ts's.
 */
import type { SchemaEffect } from '../migration/schema-effect.js';
import {
  comparePaths,
  isUnder,
  parentPath,
  SchemaSource,
  UNKNOWN_TYPE,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';

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

export interface Entry {
  types: Set<string>;
  required: boolean;
  presence?: number;
  examples?: readonly unknown[];
  arrayLength?: { min: number; max: number };
  prov: Provenance;
}

/** Where a path's values are (see PathTable.where). */
export interface Where {
  readonly parent: string;
  readonly rel: boolean;
  readonly chain: boolean;
}

export class PathTable {
  readonly entries = new Map<string, Entry>();
  /** paths `assume` took to exist */
  readonly assumed: PathSchema[] = [];

  constructor(base: CollectionSchema) {
    for (const p of base.paths) {
      this.entries.set(p.path, {
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
      if (this.entries.has(path)) continue;
      const seed = (p: string, type: string): void => {
        this.entries.set(p, { types: new Set([type]), required: true, prov: { origin: p } });
        this.assumed.push({ path: p, types: [type], required: true });
      };
      for (let p = parentPath(path); p !== '' && !this.entries.has(p); p = parentPath(p))
        seed(p, p.endsWith('[]') ? UNKNOWN_TYPE : 'object');
      seed(path, UNKNOWN_TYPE);
    }
  }

  /**
   * Where a path's values are, seen from the container the operation works in (the document, or
   * each element of the last `[]`): its parent path, whether every parent holds it (`rel`), and
   * whether every container holds it, through every object above it (`chain`).
   */
  where(path: string): Where {
    const entry = this.entries.get(path);
    let chain = entry?.required === true;
    for (let p = parentPath(path); chain && p !== '' && !p.endsWith('[]'); p = parentPath(p)) {
      const above = this.entries.get(p);
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
  put(to: string, from: Where): boolean {
    const parent = parentPath(to);
    if (parent === from.parent) return from.rel; // the same object: as present as the source
    const chain: string[] = [];
    for (let p = parent; p !== '' && !p.endsWith('[]'); p = parentPath(p)) chain.unshift(p);
    let gains = false; // objects on the way get new instances from here down
    let made = false; // the object that holds `to` is made here, only for it
    for (const p of chain) {
      const entry = this.entries.get(p);
      if (entry === undefined) {
        // made exactly where the value is put: in every instance of its parent if that was made
        // here too, else where the source is
        this.entries.set(p, {
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
        for (const [x, child] of this.entries)
          if (parentPath(x) === p && !chain.includes(x) && x !== to) child.required = false;
      }
    }
    return made ? true : from.chain;
  }

  /** Entries at and under `path`, in path order. */
  subtree(path: string): [string, Entry][] {
    return [...this.entries].filter(([p]) => isUnder(p, path));
  }

  delete(path: string): void {
    for (const p of [...this.entries.keys()]) if (isUnder(p, path)) this.entries.delete(p);
  }

  /**
   * A value taken out of an object may leave it empty, and takeValue removes the objects it
   * empties. `takenRequired`: every instance held the value taken. An object left without fields
   * then goes (every instance was emptied); one left without a field that is always there may go
   * in some documents, so it is no longer always there — and so on up to the container.
   */
  prune(path: string, takenRequired: boolean): void {
    let emptiedAll = takenRequired;
    for (let p = path; p !== '' && !p.endsWith('[]'); p = parentPath(p)) {
      const entry = this.entries.get(p);
      if (entry === undefined) return;
      // the fields of the object (its `[]` path is about the arrays the path may hold instead)
      const children = [...this.entries].filter(
        ([x]) => x !== p && parentPath(x) === p && !x.endsWith('[]'),
      );
      if (children.some(([, c]) => c.required)) return;
      const onlyObject = entry.types.size === 1 && entry.types.has('object');
      if (children.length === 0 && emptiedAll && onlyObject) {
        emptiedAll = entry.required;
        this.entries.delete(p);
        continue;
      }
      emptiedAll = false;
      entry.required = false;
      delete entry.presence;
    }
  }

  provenance(): Map<string, Provenance> {
    return new Map([...this.entries].map(([p, e]) => [p, e.prov]));
  }

  toSchema(collection: string, version: number): CollectionSchema {
    const paths: PathSchema[] = [...this.entries]
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

export function copyEntry(e: Entry): Entry {
  return {
    ...e,
    types: new Set(e.types),
    ...(e.arrayLength !== undefined ? { arrayLength: { ...e.arrayLength } } : {}),
  };
}
