/**
 * What changes between two schemas of a collection, path by path, with the intent the
 * provenance of a predicted schema carries (apply-effects.ts): renamed rather than removed and
 * added, added with a default, derived, copied.
 *
 * Only the top of a change is reported: a field added with its sub-fields is one addition; a
 * renamed object is one rename; a field that became an array (or stopped being an object) is one
 * type change, whatever happened below it. Objects made only to hold moved fields (a nest), and
 * objects emptied by moving their fields out (an unnest), are not changes of their own: the moves
 * are.
 */
import type { Provenance } from './apply-effects.js';
import {
  comparePaths,
  isUnder,
  parentPath,
  pathMap,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';

export type SchemaChange =
  | {
      readonly kind: 'added';
      readonly path: string;
      readonly required: boolean;
      readonly types: readonly string[];
      /** filled in with this value where absent (canonical EJSON) */
      readonly default?: unknown;
      /** filled in with a value computed per document */
      readonly computed?: boolean;
      readonly derivedFrom?: readonly string[];
      readonly copiedFrom?: string;
    }
  | {
      readonly kind: 'removed';
      readonly path: string;
      readonly required: boolean;
      readonly types: readonly string[];
    }
  | {
      readonly kind: 'renamed';
      readonly from: string;
      readonly to: string;
      /** required at the old path, before */
      readonly required: boolean;
      /** required at the new path, after */
      readonly requiredAfter: boolean;
      readonly types: readonly string[];
    }
  | {
      readonly kind: 'retyped';
      readonly path: string;
      readonly before: readonly string[];
      readonly after: readonly string[];
    }
  | { readonly kind: 'now-required'; readonly path: string; readonly default?: unknown }
  | { readonly kind: 'now-optional'; readonly path: string }
  | { readonly kind: 'opaque'; readonly path: string };

/** The path a change is about (its new path for a rename). */
export function changePath(c: SchemaChange): string {
  return c.kind === 'renamed' ? c.to : c.path;
}

/** Changes from `before` to `after`; `provenance` is the predicted schema's (else none known). */
export function compareSchemas(
  before: Pick<CollectionSchema, 'paths'>,
  after: Pick<CollectionSchema, 'paths'>,
  provenance: ReadonlyMap<string, Provenance> = new Map(),
): SchemaChange[] {
  const old = pathMap(before);
  const now = pathMap(after);
  const renamedTo = new Map<string, string>(); // new path -> old path
  const renamedFrom = new Set<string>();
  for (const [path, prov] of provenance) {
    const origin = prov.origin;
    if (origin === undefined || origin === path || prov.copied === true) continue;
    if (!now.has(path) || !old.has(origin) || now.has(origin)) continue;
    renamedTo.set(path, origin);
    renamedFrom.add(origin);
  }
  const changes: SchemaChange[] = [];
  const covered: string[] = []; // paths whose subtree is told by their own change
  const isCovered = (p: string): boolean => covered.some((c) => p !== c && isUnder(p, c));
  const all = [...new Set([...old.keys(), ...now.keys()])].sort(comparePaths);
  for (const path of all) {
    if (isCovered(path)) continue;
    const a = old.get(path);
    const b = now.get(path);
    const prov = provenance.get(path) ?? {};
    if (a === undefined && b !== undefined) {
      const from = renamedTo.get(path);
      if (from !== undefined) {
        const was = old.get(from)!;
        changes.push({
          kind: 'renamed',
          from,
          to: path,
          required: was.required,
          requiredAfter: b.required,
          types: was.types,
        });
        if (!sameTypes(was.types, b.types))
          changes.push({ kind: 'retyped', path, before: was.types, after: b.types });
        covered.push(path);
        continue;
      }
      if (prov.container === true) continue;
      changes.push({
        kind: 'added',
        path,
        required: b.required,
        types: b.types,
        ...(prov.default !== undefined ? { default: prov.default } : {}),
        ...(prov.computed === true ? { computed: true } : {}),
        ...(prov.derivedFrom !== undefined ? { derivedFrom: prov.derivedFrom } : {}),
        ...(prov.copied === true && prov.origin !== undefined ? { copiedFrom: prov.origin } : {}),
      });
      covered.push(path);
    } else if (a !== undefined && b === undefined) {
      if (renamedFrom.has(path)) {
        covered.push(path);
        continue;
      }
      const children = [...old.keys()].filter((p) => p !== path && parentPath(p) === path);
      const emptiedByMoves =
        children.length > 0 &&
        children.every((c) => renamedFrom.has(c)) &&
        a.types.every((t) => t === 'object');
      if (emptiedByMoves) continue;
      changes.push({ kind: 'removed', path, required: a.required, types: a.types });
      covered.push(path);
    } else if (a !== undefined && b !== undefined) {
      if (prov.opaque === true) {
        changes.push({ kind: 'opaque', path });
        covered.push(path);
        continue;
      }
      if (!sameTypes(a.types, b.types)) {
        changes.push({ kind: 'retyped', path, before: a.types, after: b.types });
        const shape = (t: readonly string[]) => `${t.includes('object')}${t.includes('array')}`;
        if (shape(a.types) !== shape(b.types)) covered.push(path);
      }
      if (a.required !== b.required) changes.push(requiredChange(path, b, prov));
    }
  }
  return changes;
}

function requiredChange(path: string, b: PathSchema, prov: Provenance): SchemaChange {
  return b.required
    ? {
        kind: 'now-required',
        path,
        ...(prov.default !== undefined ? { default: prov.default } : {}),
      }
    : { kind: 'now-optional', path };
}

function sameTypes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t) => b.includes(t));
}
