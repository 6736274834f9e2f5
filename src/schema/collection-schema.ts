/**
 * The document schema of one collection at one schema version: per field path (the project's
 * syntax, `a.b`, `items[].x`, see docs/field-paths.md), the types its values have, whether every
 * container holds it, and a few examples. It is inferred from a sample of documents
 * (infer-schema.ts), declared as JSON Schema (json-schema.ts), or predicted from a migration's
 * operations (apply-effects.ts).
 *
 * Types are the bson type names of `typeOf` (core/values.ts), so Extended JSON types stay
 * distinct: 'int', 'double', 'long', 'decimal', 'objectId', 'date', 'binData', 'string', 'bool',
 * 'null', 'object', 'array', ... `UNKNOWN_TYPE` ('?') stands for "any type": the result of code
 * that only running it tells (a custom `up()`, `mapValue`), or a path whose type was never seen.
 *
 * A *container* of a path is where it could be: the document for a top-level field, each object
 * at the parent path for `a.b` and `items[].x`, each element for `items[]`. `presence` is the
 * share of containers that hold the path; `required` means every one does (in the sample, for an
 * inferred schema — a sample can only suggest it; listed in `required`, for a declared one).
 */

export const UNKNOWN_TYPE = '?';

export const SchemaSource = {
  /** from a sample of the documents */
  inferred: 'inferred',
  /** from a JSON Schema someone wrote */
  declared: 'declared',
  /** from a migration's operations applied to the schema of its `from` version */
  predicted: 'predicted',
} as const;
export type SchemaSource = (typeof SchemaSource)[keyof typeof SchemaSource];

export interface PathCounts {
  /** containers seen (documents, parent objects, array elements) */
  readonly containers: number;
  /** containers that held a value here */
  readonly present: number;
  /** values seen per type */
  readonly byType: Readonly<Record<string, number>>;
  /** the shortest and longest array seen here, when it holds arrays */
  readonly arrayLength?: { readonly min: number; readonly max: number };
}

export interface PathSchema {
  readonly path: string;
  /** distinct type names, sorted */
  readonly types: readonly string[];
  /** every container holds it */
  readonly required: boolean;
  /** the share of containers that hold it (inferred schemas) */
  readonly presence?: number;
  /** what the sample showed (inferred schemas) */
  readonly counts?: PathCounts;
  /** a few distinct values, as canonical Extended JSON (none for secrets-like field names) */
  readonly examples?: readonly unknown[];
  /** the value a document without the field gets (declared: JSON Schema `default`), canonical EJSON */
  readonly default?: unknown;
  /** declared in a target schema: the path this field had before (`x-renamedFrom`) */
  readonly renamedFrom?: string;
  /** an object whose fields are all listed (JSON Schema `additionalProperties: false`) */
  readonly closed?: boolean;
}

export interface CollectionSchema {
  readonly collection: string;
  readonly version: number;
  readonly source: SchemaSource;
  /** documents sampled at this version (inferred schemas) */
  readonly sampled?: number;
  /** the document root lists all its fields (declared: `additionalProperties: false`) */
  readonly closed?: boolean;
  /** sorted by path */
  readonly paths: readonly PathSchema[];
  /** what the schema could not say: keys that no field path can name, paths over the cap */
  readonly notes?: readonly string[];
}

/** The paths of a schema by path. */
export function pathMap(schema: Pick<CollectionSchema, 'paths'>): Map<string, PathSchema> {
  return new Map(schema.paths.map((p) => [p.path, p]));
}

/** Code-point order of paths, so a parent sorts before its children. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The path holding `path`: `a.b` -> `a`, `a[]` -> `a`, `a[].b` -> `a[]`, `a` -> '' (the root). */
export function parentPath(path: string): string {
  if (path.endsWith('[]')) return path.slice(0, -2);
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/** The field name a path ends with, or undefined when it ends with `[]`. */
export function lastName(path: string): string | undefined {
  if (path.endsWith('[]')) return undefined;
  return path.slice(path.lastIndexOf('.') + 1);
}

/** `child` of the object at `parent` ('' is the root). */
export function childPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}.${name}`;
}

/** `path` is `ancestor` or lies inside it (`a.b` and `a[]` are inside `a`). */
export function isUnder(path: string, ancestor: string): boolean {
  if (ancestor === '') return true;
  return path === ancestor || path.startsWith(`${ancestor}.`) || path.startsWith(`${ancestor}[]`);
}

/** `path` with its leading `from` replaced by `to` (the path must be under `from`). */
export function replacePrefix(path: string, from: string, to: string): string {
  return `${to}${path.slice(from.length)}`;
}

/** A field name no field path can express (docs/field-paths.md). */
export function unexpressibleKey(key: string): boolean {
  return key.length === 0 || /[.[\]]/.test(key);
}

/** Types for people: `int | double`, `any` for the unknown type. */
export function showTypes(types: readonly string[]): string {
  if (types.length === 0) return 'nothing';
  return types.map((t) => (t === UNKNOWN_TYPE ? 'any' : t)).join(' | ');
}
