/**
 * Unique fields (issue 13 item 13): `defineMigration({ unique: ['email', ['tenant', 'slug']] })`
 * declares fields whose values must stay unique across the collection after the migration. A
 * string is one field path; an array of paths is one compound constraint (the values together).
 *
 * - The value of a constraint in a document is the canonical form (core/values.ts) of the field's
 *   value (of the list of values, compound). A document where a field is absent or null has no
 *   value for that constraint and collides with nothing (as a sparse unique index).
 * - Paths name one value each: no `[]` (a unique index over array elements is not modelled).
 * - Stores that keep fields unique themselves say so (Collection.uniqueConstraints: DynamoDB's
 *   table key attributes, MongoDB's unique indexes); those join the declared ones
 *   (`mergeConstraints`, engine/unique-constraints.ts) and are checked the same way.
 * - `plan` looks for collisions among its sample's results (findCollisions); a sampled verify
 *   among the sample's stored documents; a full verify (in place, or the target side by side)
 *   over the whole collection, bounded in memory (engine/unique-check.ts).
 * Nothing here is an index: a write between the verify and the cut-over can still collide.
 */
import { parsePath, hasEach, type FieldPath } from '../core/field-path.js';
import { canonicalString, isPlainObject, type Doc, type Value } from '../core/values.js';
import type { Key } from '../store/contract.js';

/** One constraint: its name (`email`, `tenant+slug`) and paths. */
export interface UniqueConstraint {
  readonly name: string;
  readonly paths: readonly string[];
  /**
   * where it comes from: absent for one declared in the migration; the store's words for one the
   * store keeps itself (`DynamoDB table key of 'users'`, engine/unique-constraints.ts)
   */
  readonly source?: string;
}

/** `declared`, or the store's words, or both (`declared; DynamoDB table key of 'users'`). */
export function constraintSource(c: UniqueConstraint): string {
  return c.source ?? 'declared';
}

/**
 * The declared constraints, then the store's own ones (`source` set) that are not already
 * declared (the same paths in any order): one constraint per field set, both sources named.
 */
export function mergeConstraints(
  declared: readonly UniqueConstraint[],
  fromStore: readonly { paths: readonly string[]; source: string }[],
): UniqueConstraint[] {
  const id = (paths: readonly string[]) => JSON.stringify([...paths].sort());
  const out = [...declared];
  for (const s of fromStore) {
    const i = out.findIndex((c) => id(c.paths) === id(s.paths));
    if (i >= 0) out[i] = { ...out[i]!, source: `${constraintSource(out[i]!)}; ${s.source}` };
    else out.push({ name: s.paths.join('+'), paths: [...s.paths], source: s.source });
  }
  return out;
}

/** `unique` of a migration definition: a field path, or an array of them (compound). */
export type UniqueDefinition = readonly (string | readonly string[])[];

/** What is wrong with one entry of `unique`, or undefined. */
export function uniqueEntryProblem(entry: unknown): string | undefined {
  const paths = typeof entry === 'string' ? [entry] : entry;
  if (!Array.isArray(paths) || paths.length === 0)
    return "must be a field path ('email') or a non-empty array of them (['tenant', 'slug'])";
  for (const p of paths) {
    if (typeof p !== 'string') return 'must be a field path (a string)';
    let parsed: FieldPath;
    try {
      parsed = parsePath(p);
    } catch (err) {
      return (err as Error).message;
    }
    if (hasEach(parsed))
      return `'${p}' goes through an array ([]): a unique field holds one value per document`;
  }
  if (new Set(paths).size !== paths.length) return 'names the same field twice';
  return undefined;
}

export function uniqueConstraints(def: UniqueDefinition | undefined): UniqueConstraint[] {
  return (def ?? []).map((e) => {
    const paths = typeof e === 'string' ? [e] : [...e];
    return { name: paths.join('+'), paths };
  });
}

/** The value at a path of plain keys (`a.b`), or undefined. */
function valueAt(doc: Doc, path: string): Value | undefined {
  let v: Value | undefined = doc;
  for (const step of parsePath(path).steps) {
    if (step.kind !== 'key' || !isPlainObject(v)) return undefined;
    v = Object.hasOwn(v, step.key) ? (v as Doc)[step.key] : undefined;
  }
  return v;
}

/** The canonical text of a constraint's value in `doc`; undefined when a field is absent or null. */
export function uniqueValue(c: UniqueConstraint, doc: Doc): string | undefined {
  const values: Value[] = [];
  for (const p of c.paths) {
    const v = valueAt(doc, p);
    if (v === undefined || v === null) return undefined;
    values.push(v);
  }
  return canonicalString(values.length === 1 ? values[0]! : values);
}

/** A value shared by several documents. */
export interface Collision {
  /** the constraint's name (`email`, `tenant+slug`) */
  readonly field: string;
  /** the shared value, as canonical text (a string as a JSON string: `"a@x.org"`) */
  readonly value: string;
  /** how many documents share it */
  readonly count: number;
  /** some of their keys, in sorted order (at most MAX_COLLISION_KEYS) */
  readonly keys: readonly Key[];
}

/** keys named per collision */
export const MAX_COLLISION_KEYS = 10;

/** The collisions among a few documents (a plan's sample), in memory. */
export function findCollisions(
  constraints: readonly UniqueConstraint[],
  docs: readonly { key: Key; doc: Doc }[],
): Collision[] {
  const out: Collision[] = [];
  for (const c of constraints) {
    const by = new Map<string, Key[]>();
    for (const { key, doc } of docs) {
      const v = uniqueValue(c, doc);
      if (v === undefined) continue;
      const keys = by.get(v);
      if (keys === undefined) by.set(v, [key]);
      else keys.push(key);
    }
    for (const [value, keys] of by)
      if (keys.length > 1)
        out.push({
          field: c.name,
          value,
          count: keys.length,
          keys: keys.sort().slice(0, MAX_COLLISION_KEYS),
        });
  }
  return out;
}

/** `2 documents would share email "a@x.org": keys k1, k2` (`verb`: 'would share' or 'share') */
export function collisionText(c: Collision, verb = 'share'): string {
  const more = c.count > c.keys.length ? `, ... (${c.count - c.keys.length} more)` : '';
  return `${c.count} documents ${verb} ${c.field} ${shownValue(c.value)}: keys ${c.keys.join(', ')}${more}`;
}

/** a string value as 'text', anything else as its canonical JSON */
function shownValue(canonical: string): string {
  try {
    const v: unknown = JSON.parse(canonical);
    if (typeof v === 'string') return `'${v}'`;
  } catch {
    // not JSON: shown as it is
  }
  return canonical;
}
