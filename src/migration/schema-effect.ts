/**
 * What an operation does to the *shape* of documents — their field paths, types and presence —
 * as data. Each operation of the catalogue declares its effects next to its code;
 * src/schema/apply-effects.ts turns a collection's schema at `from` into the predicted schema at
 * `to` with them, so `switchyard check` can judge a migration's compatibility without running it
 * (and without data, in CI). An operation whose result only running it can tell (`mapValue`, a
 * custom `up()`) says so with `opaque`; those are judged from sampled documents.
 *
 * Paths are field paths (`a.b`, `items[].x`). Type names are those of `typeOf`
 * (core/values.ts): 'string', 'int', 'double', 'long', 'decimal', 'objectId', 'date', ...
 *
 * test/schema/apply-effects.test.ts checks every operation's effects against what it does:
 * the schema predicted from the effects must describe what running the operation on random
 * documents produces.
 */
import type { Value } from '../core/values.js';

export type SchemaEffect =
  /** a field filled in where absent: with a fixed `value` (the default), or computed per document */
  | { readonly kind: 'add'; readonly path: string; readonly value?: Value }
  /**
   * a field removed; `copyOf` when it was a copy of another field (nothing is lost); `taken` when
   * objects it leaves empty go too (split, join), unlike removeField's `$unset`
   */
  | {
      readonly kind: 'remove';
      readonly path: string;
      readonly copyOf?: string;
      readonly taken?: boolean;
    }
  /** a field (and everything inside it) moved to another path: a rename, a nest */
  | { readonly kind: 'move'; readonly from: string; readonly to: string }
  /** a field copied to another path */
  | { readonly kind: 'copy'; readonly from: string; readonly to: string }
  /**
   * values converted to type `to` (null stays null); with `from`, only values of that type are
   * converted and documents holding another type are refused
   */
  | { readonly kind: 'retype'; readonly path: string; readonly to: string; readonly from?: string }
  /**
   * a new field computed from others (split, join). `presence`: 'any' — present when any source
   * is (join); 'first' — present whenever the source is (the first part of a split); 'partial' —
   * present in some of those documents only (later parts of a split)
   */
  | {
      readonly kind: 'derive';
      readonly from: readonly string[];
      readonly to: string;
      readonly types: readonly string[];
      readonly presence: 'any' | 'first' | 'partial';
    }
  /** the value becomes a one-element array holding it */
  | { readonly kind: 'wrap'; readonly path: string }
  /** a one-element array becomes its element */
  | { readonly kind: 'unwrap'; readonly path: string }
  /** the object's fields move up beside it and it goes (`fields`: the ones it may hold) */
  | { readonly kind: 'unnest'; readonly path: string; readonly fields?: readonly string[] }
  /** values change, their types do not (lowercase, trim) */
  | { readonly kind: 'values'; readonly path: string }
  /**
   * values change in a way only running the code tells (mapValue); `optional` when the field
   * may also go (removeField with `when`)
   */
  | { readonly kind: 'opaque'; readonly path: string; readonly optional?: boolean };

/** The effects with every path put under `prefix` (`items[].`): for operations inside elements. */
export function prefixEffects(
  effects: readonly SchemaEffect[],
  prefix: string,
): readonly SchemaEffect[] {
  const p = (path: string): string => `${prefix}${path}`;
  return effects.map((e): SchemaEffect => {
    switch (e.kind) {
      case 'move':
      case 'copy':
        return { ...e, from: p(e.from), to: p(e.to) };
      case 'derive':
        return { ...e, from: e.from.map(p), to: p(e.to) };
      case 'remove':
        return {
          ...e,
          path: p(e.path),
          ...(e.copyOf !== undefined ? { copyOf: p(e.copyOf) } : {}),
        };
      default:
        return { ...e, path: p(e.path) };
    }
  });
}
