/**
 * Inferring a collection's schema from documents: every field path with the types of its values
 * (Extended JSON types stay distinct: int, double, long, decimal, ...), its presence among its
 * containers, array lengths, and a few examples.
 *
 * Bounds (a sample must never make the schema unbounded): at most MAX_PATHS paths and, per
 * object path, MAX_KEYS_PER_OBJECT distinct field names — objects keyed by data (ids as keys)
 * would otherwise add a path per document; what is left out is counted in `notes`. Keys that no
 * field path can name (`a.b`, `x[0]`, the empty key) are counted in `notes` too. Examples: at
 * most MAX_EXAMPLES distinct scalars per path, strings cut to EXAMPLE_CHARS, none longer than
 * that in Extended JSON, none at all for fields whose name says secret (password, token, ...),
 * and passwords in URLs redacted: the schema is shown by the CLI and kept in the state store.
 */
import { typeOf, toEJSONObject, type Doc, type Value } from '../core/values.js';
import { redactSecrets } from '../store/store-url.js';
import {
  childPath,
  comparePaths,
  SchemaSource,
  unexpressibleKey,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';

export const MAX_PATHS = 2000;
export const MAX_KEYS_PER_OBJECT = 200;
export const MAX_EXAMPLES = 3;
export const EXAMPLE_CHARS = 60;
const SECRET_NAME = /pass(word|wd)?$|secret|token|api[-_]?key|credential|private[-_]?key/i;

interface Accumulator {
  present: number;
  byType: Map<string, number>;
  examples: Map<string, unknown>;
  secret: boolean;
  minLength: number;
  maxLength: number;
  keys: number;
}

/** Accumulates documents of one version into its schema. */
export class SchemaBuilder {
  readonly #paths = new Map<string, Accumulator>();
  readonly #skip: ReadonlySet<string>;
  #documents = 0;
  #unexpressible = 0;
  #unexpressibleExample: string | undefined;
  #overCap = 0;

  /** `skipTopLevel`: fields of the document root to leave out (the version field). */
  constructor(skipTopLevel: readonly string[] = []) {
    this.#skip = new Set(skipTopLevel);
  }

  get documents(): number {
    return this.#documents;
  }

  add(doc: Doc): void {
    this.#documents += 1;
    this.#object(doc, '', true);
  }

  build(collection: string, version: number): CollectionSchema {
    const objectsAt = (path: string): number =>
      path === '' ? this.#documents : (this.#paths.get(path)?.byType.get('object') ?? 0);
    const paths: PathSchema[] = [];
    for (const [path, acc] of this.#paths) {
      const element = path.endsWith('[]');
      const containers = element ? acc.present : objectsAt(parentOf(path));
      const byType = Object.fromEntries([...acc.byType].sort(([a], [b]) => comparePaths(a, b)));
      paths.push({
        path,
        types: Object.keys(byType),
        required: containers > 0 && acc.present === containers,
        presence: containers === 0 ? 0 : round(acc.present / containers),
        counts: {
          containers,
          present: acc.present,
          byType,
          ...(acc.maxLength >= 0
            ? { arrayLength: { min: acc.minLength, max: acc.maxLength } }
            : {}),
        },
        ...(acc.secret ? {} : { examples: [...acc.examples.values()] }),
      });
    }
    paths.sort((a, b) => comparePaths(a.path, b.path));
    const notes: string[] = [];
    if (this.#unexpressible > 0)
      notes.push(
        `${this.#unexpressible} value(s) under keys no field path can name (such as '${this.#unexpressibleExample}') are left out`,
      );
    if (this.#overCap > 0)
      notes.push(
        `${this.#overCap} path(s) left out: more than ${MAX_KEYS_PER_OBJECT} field names in one object, or ${MAX_PATHS} paths in all (objects keyed by data?)`,
      );
    return {
      collection,
      version,
      source: SchemaSource.inferred,
      sampled: this.#documents,
      paths,
      ...(notes.length > 0 ? { notes } : {}),
    };
  }

  #object(obj: Doc, path: string, root: boolean): void {
    const parent = root ? undefined : this.#paths.get(path);
    for (const key of Object.keys(obj)) {
      const value = obj[key];
      if (value === undefined || (root && this.#skip.has(key))) continue;
      if (unexpressibleKey(key)) {
        this.#unexpressible += 1;
        this.#unexpressibleExample ??= key;
        continue;
      }
      const child = childPath(path, key);
      let acc = this.#paths.get(child);
      if (acc === undefined) {
        if (
          this.#paths.size >= MAX_PATHS ||
          (parent !== undefined && parent.keys >= MAX_KEYS_PER_OBJECT)
        ) {
          this.#overCap += 1;
          continue;
        }
        acc = this.#accumulator(SECRET_NAME.test(key));
        this.#paths.set(child, acc);
        if (parent !== undefined) parent.keys += 1;
      }
      this.#value(value, child, acc);
    }
  }

  #value(value: Value, path: string, acc: Accumulator): void {
    acc.present += 1;
    const type = typeOf(value);
    acc.byType.set(type, (acc.byType.get(type) ?? 0) + 1);
    if (Array.isArray(value)) {
      acc.minLength = acc.maxLength < 0 ? value.length : Math.min(acc.minLength, value.length);
      acc.maxLength = Math.max(acc.maxLength, value.length);
      if (value.length === 0) return;
      const child = `${path}[]`;
      let el = this.#paths.get(child);
      if (el === undefined) {
        if (this.#paths.size >= MAX_PATHS) {
          this.#overCap += 1;
          return;
        }
        el = this.#accumulator(acc.secret);
        this.#paths.set(child, el);
      }
      for (const x of value) if (x !== undefined) this.#value(x, child, el);
      return;
    }
    if (type === 'object') {
      this.#object(value as Doc, path, false);
      return;
    }
    if (!acc.secret && acc.examples.size < MAX_EXAMPLES) {
      const example = exampleOf(value);
      if (example !== undefined) acc.examples.set(JSON.stringify(example), example);
    }
  }

  #accumulator(secret: boolean): Accumulator {
    return {
      present: 0,
      byType: new Map(),
      examples: new Map(),
      secret,
      minLength: -1,
      maxLength: -1,
      keys: 0,
    };
  }
}

/** A short example in canonical Extended JSON, or undefined when it would be long. */
function exampleOf(value: Value): unknown {
  // a connection string in the data keeps its password out of the schema too
  const text = typeof value === 'string' ? redactSecrets(value) : undefined;
  const v =
    text === undefined
      ? value
      : text.length > EXAMPLE_CHARS
        ? `${text.slice(0, EXAMPLE_CHARS)}…`
        : text;
  const ejson = toEJSONObject(v);
  return JSON.stringify(ejson).length <= EXAMPLE_CHARS + 20 ? ejson : undefined;
}

function parentOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

function round(n: number): number {
  return Math.round(n * 10000) / 10000;
}

export interface InferOptions {
  collection: string;
  /** the field holding the schema version; left out of the schema */
  versionField: string;
  /** the version of a document without the field */
  baseVersion: number;
}

/**
 * The schema of each version found among `docs` (a document's version is its version field,
 * else the base version), in version order.
 */
export function inferSchemas(docs: Iterable<Doc>, options: InferOptions): CollectionSchema[] {
  const builders = new Map<number, SchemaBuilder>();
  for (const doc of docs) {
    const v = versionOfDoc(doc, options.versionField, options.baseVersion);
    let b = builders.get(v);
    if (b === undefined) builders.set(v, (b = new SchemaBuilder([options.versionField])));
    b.add(doc);
  }
  return [...builders].sort(([a], [b]) => a - b).map(([v, b]) => b.build(options.collection, v));
}

/** A document's schema version: its version field when numeric, else `base`. */
export function versionOfDoc(doc: Doc, versionField: string, base: number): number {
  const v = doc[versionField];
  if (v === undefined || v === null) return base;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : base;
}
