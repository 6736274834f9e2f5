/**
 * After-schemas are JSON Schemas, checked (with ajv) against a JSON view of each document:
 * Date -> ISO 8601 string (so `format: date-time` works), ObjectId -> 24-hex string,
 * Long and integral Double -> number, Decimal128 -> its decimal string, Binary -> base64 string.
 * Every other value is itself.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { isBsonObject, isPlainObject, type Value } from '../core/values.js';
import { InputError } from '../core/errors.js';

export function schemaView(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(schemaView);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (isBsonObject(v)) {
    switch (v._bsontype) {
      case 'ObjectId':
        return (v as unknown as { toHexString(): string }).toHexString();
      case 'Long':
        return (v as unknown as { toNumber(): number }).toNumber();
      case 'Double':
      case 'Int32':
        return (v as unknown as { value: number }).value;
      case 'Decimal128':
        return v.toString();
      case 'Binary':
        return (v as unknown as { toString(enc: string): string }).toString('base64');
      default:
        return v.toString();
    }
  }
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = schemaView((v as Record<string, Value>)[k]!);
    return out;
  }
  return v;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  email: /^[^\s@]+@[^\s@]+$/,
};
for (const [name, re] of Object.entries(FORMATS)) ajv.addFormat(name, re);

/** Compile a JSON Schema; an invalid schema is an InputError naming the migration file and field. */
export function compileSchema(
  schema: Record<string, unknown>,
  where: { file?: string },
): (v: Value) => string[] {
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new InputError(
      `verify.schema is not a valid JSON Schema: ${(err as Error).message}`,
      { ...where, field: 'verify.schema' },
      { cause: err },
    );
  }
  return (v) => {
    if (validate(schemaView(v))) return [];
    return (validate.errors ?? []).map(
      (e) => `schema: ${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
    );
  };
}
