/**
 * fast-check generators for the document value model: every type the model holds (unicode
 * strings, int32, fractional doubles, integral bson Doubles, Long, Decimal128, ObjectId, Date,
 * Binary, null, booleans, nested arrays and objects), and documents shaped around given paths.
 */
import { Binary, Decimal128, Double, Long, ObjectId } from 'bson';
import fc from 'fast-check';
import { parsePath } from '../../src/core/field-path.js';
import type { BsonObject, Doc, Value } from '../../src/core/values.js';

const bson = (v: unknown): Value => v as BsonObject;

/** Field names: unicode, but never '.', '[', ']', NUL (BSON forbids it), a leading '$' or '__proto__'. */
export const keyArb: fc.Arbitrary<string> = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 6 })
  .filter((k) => !/[.[\]\0]/.test(k) && !k.startsWith('$') && k !== '__proto__');

const hex24 = fc
  .uint8Array({ minLength: 12, maxLength: 12 })
  .map((b) => Buffer.from(b).toString('hex'));
const word = fc.constantFrom('Ada', 'mary ann', 'Ó', '😀x', '', ' ', 'a-b', 'ß', 'İ');

export const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
  { weight: 2, arbitrary: fc.array(word, { maxLength: 4 }).map((w) => w.join(' ')) },
  fc.constantFrom(
    '007',
    '7',
    '-3',
    '+4',
    '1.5',
    '7.50',
    '1e3',
    ' 42 ',
    'NaN',
    'true',
    'FALSE',
    '0',
    '1',
  ),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
  fc.double().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024-02-29', '2024-02-29T10:00', '2024-02-29T10:00:00+02:00', '2024-13-01'),
  hex24,
  hex24.map((h) => h.toUpperCase()),
);
export const intArb: fc.Arbitrary<Value> = fc.integer().map((n) => (n === 0 ? 0 : n));
/** Doubles in the model: fractional ones (and NaN, ±Infinity) as numbers, integral ones as bson Double. */
export const doubleArb: fc.Arbitrary<Value> = fc.oneof(
  fc.double().filter((n) => !Number.isInteger(n)),
  fc
    .oneof(fc.integer(), fc.constant(-0), fc.integer({ min: -(2 ** 53), max: 2 ** 53 }))
    .map((n) => bson(new Double(n))),
  fc.constantFrom(0.1, 1.5, -2.25).map((n) => n),
);
export const longArb: fc.Arbitrary<Value> = fc
  .oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.bigInt({ min: -3000n, max: 3000n }),
  )
  .map((b) => bson(Long.fromBigInt(b)));
export const decimalArb: fc.Arbitrary<Value> = fc
  .oneof(
    fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.constantFrom('0.1', '1.50E+3', '-0', 'NaN', 'Infinity', '7.0', '7', '1', '0'),
  )
  .map((s) => bson(Decimal128.fromString(s)));
export const objectIdArb: fc.Arbitrary<Value> = hex24.map((h) => bson(new ObjectId(h)));
export const dateArb: fc.Arbitrary<Value> = fc.date({ noInvalidDate: true });
export const binaryArb: fc.Arbitrary<Value> = fc
  .uint8Array({ maxLength: 6 })
  .map((b) => bson(new Binary(Buffer.from(b))));

/** Values of each coercible type. */
export const typedValue = {
  string: stringArb as fc.Arbitrary<Value>,
  int: intArb,
  long: longArb,
  double: doubleArb,
  decimal: decimalArb,
  bool: fc.boolean() as fc.Arbitrary<Value>,
  date: dateArb,
  objectId: objectIdArb,
} as const;

export const scalarArb: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: stringArb },
  { weight: 2, arbitrary: intArb },
  doubleArb,
  longArb,
  decimalArb,
  objectIdArb,
  dateArb,
  binaryArb,
  fc.boolean(),
  fc.constant(null),
);

/** Any value of the model, nested up to a few levels. */
export const anyValue: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthSize: 'small' },
    { weight: 5, arbitrary: scalarArb },
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 3 }) as fc.Arbitrary<Value>,
  ),
})).value;

/** How a path appears in generated documents. */
export interface FieldSpec {
  /** The value generator at the path (default: any value). */
  value?: fc.Arbitrary<Value>;
  /** How often the field is present where its parent exists, 0..1 (default 0.7). */
  presence?: number;
}

interface ShapeNode {
  keys: Map<string, ShapeNode>;
  each?: ShapeNode;
  leaf?: fc.Arbitrary<Value>;
  presence: number;
}

const ABSENT = Symbol('absent');

/**
 * Documents that contain the given paths (often, not always), with the given value generators at
 * their ends, random extra fields around them, and now and then a value of the wrong kind (or
 * null) where an object or array is expected.
 */
export function docArb(
  fields: Readonly<Record<string, FieldSpec>>,
  options: { extras?: boolean } = {},
): fc.Arbitrary<Doc> {
  const root: ShapeNode = { keys: new Map(), presence: 1 };
  for (const [text, spec] of Object.entries(fields)) {
    let node = root;
    for (const step of parsePath(text).steps) {
      if (step.kind === 'each') node = node.each ??= { keys: new Map(), presence: 1 };
      else {
        let next = node.keys.get(step.key);
        if (next === undefined)
          node.keys.set(step.key, (next = { keys: new Map(), presence: 0.8 }));
        node = next;
      }
    }
    node.leaf = spec.value ?? anyValue;
    node.presence = spec.presence ?? 0.7;
  }
  return objectOf(root, options.extras ?? true);
}

function objectOf(node: ShapeNode, extras = true): fc.Arbitrary<Doc> {
  const entries = [...node.keys].map(([key, child]) => {
    const w = Math.round(child.presence * 20);
    const value = fc.oneof(
      { weight: w, arbitrary: valueOf(child) },
      { weight: 20 - w, arbitrary: fc.constant(ABSENT) },
    );
    return value.map((v) => [key, v] as const);
  });
  return fc
    .tuple(
      extras
        ? fc.dictionary(keyArb, anyValue, { maxKeys: 2, noNullPrototype: true })
        : fc.constant({}),
      fc.tuple(...entries),
    )
    .map(([extra, pairs]) => {
      const doc: Doc = { ...extra };
      for (const [k, v] of pairs) {
        if (v === ABSENT) delete doc[k];
        else doc[k] = v;
      }
      return doc;
    });
}

function valueOf(node: ShapeNode): fc.Arbitrary<Value> {
  const shapes: fc.Arbitrary<Value>[] = [];
  if (node.each !== undefined) shapes.push(fc.array(valueOf(node.each), { maxLength: 4 }));
  if (node.keys.size > 0) shapes.push(objectOf(node));
  if (node.leaf !== undefined) shapes.push(node.leaf);
  if (node.leaf !== undefined && node.keys.size === 0 && node.each === undefined) return node.leaf;
  return fc.oneof(
    { weight: 12, arbitrary: fc.oneof(...shapes) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constant(null),
        fc.constant(null).map((): Value => ({})),
      ),
    },
    { weight: 1, arbitrary: anyValue },
  );
}
