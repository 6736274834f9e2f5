/**
 * A collection schema as JSON Schema and back.
 *
 * Types are written with MongoDB's `bsonType` keyword (the names of `typeOf`: int, long, double,
 * decimal, objectId, date, ...), so a schema keeps Extended JSON types apart; on reading, the
 * plain JSON Schema `type` works too ('integer' is int or long, 'number' any numeric type).
 * Also read: `properties`, `required`, `items`, `additionalProperties: false` (the object lists
 * all its fields: a field missing from a target is then removed, otherwise left alone, as in a
 * schema registry's open content model), `default` (Extended JSON), and `x-renamedFrom` (the
 * field's old path, as Atlas's `renamed_from`). Written: those, plus `x-presence` and `examples`.
 *
 * A schema that uses what this cannot follow ($ref, allOf/anyOf/oneOf, patternProperties, tuple
 * items, ...) is refused with an InputError naming the file and the JSON pointer: a target the
 * tool half-understood would write a migration that half-reaches it.
 */
import { Ajv } from 'ajv';
import { InputError } from '../core/errors.js';
import { fromEJSONObject, toEJSONObject } from '../core/values.js';
import {
  childPath,
  comparePaths,
  SchemaSource,
  UNKNOWN_TYPE,
  unexpressibleKey,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';

/** Every bson type name a `bsonType` may give (MongoDB's aliases), and 'number'. */
export const BSON_TYPES = [
  'double',
  'string',
  'object',
  'array',
  'binData',
  'objectId',
  'bool',
  'date',
  'null',
  'regex',
  'javascript',
  'int',
  'timestamp',
  'long',
  'decimal',
  'minKey',
  'maxKey',
] as const;

const NUMERIC = ['int', 'long', 'double', 'decimal'];
const JSON_TYPES: Readonly<Record<string, readonly string[]>> = {
  string: ['string'],
  integer: ['int', 'long'],
  number: NUMERIC,
  boolean: ['bool'],
  null: ['null'],
  object: ['object'],
  array: ['array'],
};
const UNSUPPORTED = [
  '$ref',
  '$dynamicRef',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'patternProperties',
  'dependentSchemas',
  'prefixItems',
  'unevaluatedProperties',
];

type JsonObject = Record<string, unknown>;

/** The schema as JSON Schema: nested properties, `bsonType`, `required`, presence and examples. */
export function toJsonSchema(schema: CollectionSchema): JsonObject {
  const byParent = new Map<string, PathSchema[]>();
  for (const p of schema.paths) {
    if (p.path.endsWith('[]')) continue; // an array's elements: `items` of the array's node
    const parent = parentKey(p.path);
    byParent.set(parent, [...(byParent.get(parent) ?? []), p]);
  }
  const paths = new Map(schema.paths.map((p) => [p.path, p]));
  const objectNode = (at: string, closed: boolean | undefined): JsonObject => {
    const children = (byParent.get(at) ?? []).sort((a, b) => comparePaths(a.path, b.path));
    const required = children.filter((c) => c.required).map((c) => lastKey(c.path));
    return {
      ...(closed === false ? {} : { additionalProperties: false }),
      ...(required.length > 0 ? { required } : {}),
      properties: Object.fromEntries(children.map((c) => [lastKey(c.path), node(c)])),
    };
  };
  const node = (p: PathSchema): JsonObject => {
    const out: JsonObject = {};
    const types = p.types.filter((t) => t !== UNKNOWN_TYPE);
    if (types.length > 0 && types.length === p.types.length)
      out.bsonType = types.length === 1 ? types[0] : types;
    if (p.presence !== undefined && p.presence < 1) out['x-presence'] = p.presence;
    if (p.renamedFrom !== undefined) out['x-renamedFrom'] = p.renamedFrom;
    if (p.default !== undefined) out.default = p.default;
    if (p.examples !== undefined && p.examples.length > 0) out.examples = [...p.examples];
    if (p.types.includes('object')) Object.assign(out, objectNode(p.path, p.closed));
    const items = paths.get(`${p.path}[]`);
    if (p.types.includes('array') && items !== undefined) out.items = node(items);
    return out;
  };
  return {
    title: `${schema.collection} v${schema.version}`,
    description: `${schema.source}${schema.sampled !== undefined ? ` from ${schema.sampled} documents` : ''}`,
    bsonType: 'object',
    ...objectNode('', schema.closed),
  };
}

export interface JsonSchemaSource {
  collection: string;
  version: number;
  /** the file it came from, for errors */
  file?: string;
}

/**
 * A declared schema from JSON Schema. Throws an InputError naming the file and the JSON pointer
 * for anything it cannot follow, or a schema that is not valid JSON Schema.
 */
export function fromJsonSchema(json: unknown, source: JsonSchemaSource): CollectionSchema {
  const where = source.file !== undefined ? { file: source.file } : {};
  const fail = (pointer: string, why: string): never => {
    throw new InputError(`${pointer === '' ? 'the schema' : `at ${pointer}`}: ${why}`, {
      ...where,
      field: pointer === '' ? '/' : pointer,
    });
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    fail('', 'must be a JSON Schema object');
  try {
    new Ajv({ strict: false, allErrors: true }).compile(json as JsonObject);
  } catch (err) {
    fail('', `is not a valid JSON Schema: ${(err as Error).message}`);
  }
  const paths: PathSchema[] = [];
  const walk = (node: unknown, path: string, pointer: string, required: boolean): PathSchema => {
    if (node === true || node === undefined) return { path, types: [UNKNOWN_TYPE], required };
    if (node === null || typeof node !== 'object' || Array.isArray(node))
      fail(pointer, 'must be a schema object');
    const n = node as JsonObject;
    for (const k of UNSUPPORTED)
      if (k in n)
        fail(
          `${pointer}/${k}`,
          `'${k}' is not supported in a schema here: describe the shape with properties, items, required and bsonType (or type)`,
        );
    const types = typesOf(n, pointer, fail);
    const out: {
      path: string;
      types: readonly string[];
      required: boolean;
      default?: unknown;
      examples?: readonly unknown[];
      renamedFrom?: string;
      closed?: boolean;
    } = { path, types, required };
    if ('default' in n) {
      try {
        out.default = toEJSONObject(fromEJSONObject(n.default));
      } catch (err) {
        fail(`${pointer}/default`, `is not valid Extended JSON: ${(err as Error).message}`);
      }
    }
    if (Array.isArray(n.examples)) {
      try {
        out.examples = n.examples.map((e) => toEJSONObject(fromEJSONObject(e)));
      } catch (err) {
        fail(`${pointer}/examples`, `are not valid Extended JSON: ${(err as Error).message}`);
      }
    }
    const renamed = n['x-renamedFrom'];
    if (renamed !== undefined) {
      if (typeof renamed !== 'string' || renamed === '')
        fail(`${pointer}/x-renamedFrom`, 'must be the field path the field had before');
      out.renamedFrom = renamed as string;
    }
    if (
      n.properties !== undefined ||
      n.required !== undefined ||
      n.additionalProperties === false
    ) {
      if (!types.includes('object') && !types.includes(UNKNOWN_TYPE))
        fail(pointer, `has properties but its type is ${types.join(' | ')}, not object`);
      out.closed = n.additionalProperties === false;
      objectChildren(n, path, pointer);
    } else if (n.additionalProperties !== undefined && n.additionalProperties !== true) {
      fail(`${pointer}/additionalProperties`, 'only true or false is supported');
    }
    if (n.items !== undefined) {
      if (Array.isArray(n.items)) fail(`${pointer}/items`, 'tuple items are not supported');
      paths.push(walk(n.items, `${path}[]`, `${pointer}/items`, true));
    }
    return out;
  };
  const objectChildren = (n: JsonObject, path: string, pointer: string): void => {
    const props = (n.properties ?? {}) as JsonObject;
    if (typeof props !== 'object' || props === null || Array.isArray(props))
      fail(`${pointer}/properties`, 'must be an object');
    const required = n.required ?? [];
    if (!Array.isArray(required)) fail(`${pointer}/required`, 'must be an array of field names');
    for (const r of required as unknown[])
      if (typeof r !== 'string' || !(r in props))
        fail(`${pointer}/required`, `names '${String(r)}', which is not one of its properties`);
    for (const [key, child] of Object.entries(props)) {
      const p = `${pointer}/properties/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (unexpressibleKey(key))
        fail(
          p,
          `the field name '${key}' cannot be named by a field path ('.', '[' and ']' are not allowed)`,
        );
      paths.push(walk(child, childPath(path, key), p, (required as string[]).includes(key)));
    }
  };
  const root = json as JsonObject;
  const rootTypes = typesOf(root, '', fail);
  if (!rootTypes.includes('object') && !rootTypes.includes(UNKNOWN_TYPE))
    fail('', 'a document schema must describe an object');
  objectChildren(root, '', '');
  paths.sort((a, b) => comparePaths(a.path, b.path));
  return {
    collection: source.collection,
    version: source.version,
    source: SchemaSource.declared,
    closed: root.additionalProperties === false,
    paths,
  };
}

function typesOf(
  n: JsonObject,
  pointer: string,
  fail: (pointer: string, why: string) => never,
): string[] {
  const out = new Set<string>();
  if (n.bsonType !== undefined) {
    const list = Array.isArray(n.bsonType) ? n.bsonType : [n.bsonType];
    for (const t of list) {
      if (t === 'number') NUMERIC.forEach((x) => out.add(x));
      else if ((BSON_TYPES as readonly unknown[]).includes(t)) out.add(t as string);
      else
        fail(
          `${pointer}/bsonType`,
          `unknown bsonType ${JSON.stringify(t)}: one of ${BSON_TYPES.join(', ')}, number`,
        );
    }
  }
  if (n.type !== undefined && n.bsonType === undefined) {
    const list = Array.isArray(n.type) ? n.type : [n.type];
    for (const t of list) {
      const mapped = typeof t === 'string' ? JSON_TYPES[t] : undefined;
      if (mapped === undefined)
        fail(
          `${pointer}/type`,
          `unknown type ${JSON.stringify(t)}: one of ${Object.keys(JSON_TYPES).join(', ')}`,
        );
      mapped!.forEach((x) => out.add(x));
    }
  }
  if (out.size === 0) {
    if (n.properties !== undefined || n.additionalProperties === false) return ['object'];
    if (n.items !== undefined) return ['array'];
    return [UNKNOWN_TYPE];
  }
  return [...out].sort(comparePaths);
}

function parentKey(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

function lastKey(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}
