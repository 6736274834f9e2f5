/**
 * Equality queries: the documents of a collection whose fields equal given values.
 *
 *   { status: 'active', 'address.city': 'Lyon', verified: true }
 *
 * Rules:
 * - a filter maps dotted field paths (`a.b`; no `[]`) to a string, a finite number, a boolean or
 *   null; anything else is an InputError naming the field. A number matches an int32 or a double
 *   of the same value kept as a plain JSON number (not a Long, Decimal128 or an integral Double,
 *   which are other types: values.ts); null matches a field that is present and null;
 * - a collection with `find` (SQLite: `json_extract`/`json_type` in SQL) answers it in the
 *   store; any other is scanned in pages and filtered here with the same rules (`matches`), so
 *   every adapter answers a query the same way, the ones without `find` at the cost of a scan;
 * - results come in the collection's key order when its scan is ordered, at most `limit` of them.
 */
import { InputError } from '../core/errors.js';
import type { Doc, Value } from '../core/values.js';
import type { Collection, StoredDoc } from './contract.js';

export type FilterValue = string | number | boolean | null;
export type EqualityFilter = Readonly<Record<string, FilterValue>>;

export const DEFAULT_QUERY_LIMIT = 1000;
const SEGMENT = /^[^.[\]]+$/;

/** The filter's paths split into segments; throws InputError on a filter it cannot answer. */
export function checkFilter(filter: unknown): [string[], FilterValue][] {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter))
    throw new InputError('a query filter is an object of field paths to values', {
      field: 'filter',
    });
  const out: [string[], FilterValue][] = [];
  for (const [path, value] of Object.entries(filter)) {
    const segments = path.split('.');
    if (!segments.every((s) => SEGMENT.test(s)))
      throw new InputError(
        `query filter field '${path}': write a dotted path (a.b), without [] or empty parts`,
        { field: `filter.${path}` },
      );
    const ok =
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value));
    if (!ok)
      throw new InputError(
        `query filter field '${path}': equality on a string, a finite number, a boolean or null only`,
        { field: `filter.${path}` },
      );
    out.push([segments, value as FilterValue]);
  }
  return out;
}

/** Whether `doc` satisfies the checked filter. */
export function matches(doc: Doc, checked: readonly [string[], FilterValue][]): boolean {
  return checked.every(([segments, want]) => {
    let v: Value | undefined = doc;
    for (const s of segments) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !isPlainObject(v))
        return false;
      if (!Object.prototype.hasOwnProperty.call(v, s)) return false;
      v = (v as Record<string, Value>)[s];
    }
    return v === want;
  });
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The documents of `c` that match `filter`, in the store where it can, else by a scan. */
export async function query(
  c: Collection,
  filter: EqualityFilter,
  limit = DEFAULT_QUERY_LIMIT,
): Promise<StoredDoc[]> {
  const checked = checkFilter(filter);
  if (c.find !== undefined) return c.find(filter, limit);
  const out: StoredDoc[] = [];
  let cursor: string | null = null;
  do {
    const page = await c.scan({ cursor, limit: 1000 });
    for (const item of page.items) {
      if (matches(item.doc, checked)) out.push(item);
      if (out.length >= limit) return out;
    }
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}
