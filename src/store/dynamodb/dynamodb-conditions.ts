/**
 * The conditions and updates of conditional writes, in the two languages DynamoDB batches them
 * in: ConditionExpression / UpdateExpression (TransactWriteItems) and PartiQL statements
 * (BatchExecuteStatement).
 *
 * A conditional write on a rev says "the item still holds exactly what was read": every
 * attribute read is equal (`=` compares maps, lists and sets whole, numbers as numbers, set
 * members in any order), and none of the attributes the write adds exists. It is an update that
 * sets the attributes that change and removes the ones the new document drops, so an attribute
 * another writer added meanwhile is kept, as if that write came after ours.
 *
 * Limits: a ConditionExpression is at most 4 KB, a PartiQL statement 8 KB. An item with so many
 * attributes that its condition does not fit (about 350 top-level attributes) cannot be written
 * conditionally: `ConditionTooLongError`.
 */
import { StoreError } from '../../core/errors.js';
import { attrType, sameAttr, type AttrMap, type AttrValue } from './dynamodb-values.js';

const MAX_EXPRESSION = 4096;
const MAX_STATEMENT = 8192;

/** A conditional write whose condition exceeds DynamoDB's expression limits. */
export class ConditionTooLongError extends StoreError {
  override readonly code = 'E_DYNAMODB_CONDITION_TOO_LONG';
}

/** What changes from the item read to the item written (key attributes left out). */
export interface ItemChange {
  /** attributes to set: the ones that are new or differ */
  readonly set: readonly (readonly [string, AttrValue])[];
  readonly remove: readonly string[];
  /** attributes the read item does not have (the condition says they are still absent) */
  readonly added: readonly string[];
}

/** The change from `read` to `next`, or null when `next` holds the same content. */
export function diffItem(
  read: AttrMap,
  next: AttrMap,
  keyNames: ReadonlySet<string>,
): ItemChange | null {
  const set: [string, AttrValue][] = [];
  const remove: string[] = [];
  const added: string[] = [];
  for (const k in next) {
    if (keyNames.has(k)) continue;
    const before = read[k];
    const av = next[k]!;
    if (before === undefined) added.push(k);
    if (before === undefined || !sameAttr(before, av)) set.push([k, av]);
  }
  for (const k in read) if (!keyNames.has(k) && next[k] === undefined) remove.push(k);
  return set.length === 0 && remove.length === 0 ? null : { set, remove, added };
}

/** Placeholders of one expression-based request item. */
export class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttrValue> = {};
  readonly #nameIds = new Map<string, string>();
  #values = 0;

  name(n: string): string {
    let id = this.#nameIds.get(n);
    if (id === undefined) {
      id = `#${this.#nameIds.size}`;
      this.#nameIds.set(n, id);
      this.names[id] = n;
    }
    return id;
  }

  value(v: AttrValue): string {
    const id = `:${this.#values++}`;
    this.values[id] = v;
    return id;
  }

  /** ExpressionAttributeNames/Values, leaving out the empty ones (DynamoDB rejects them). */
  params(): {
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: AttrMap;
  } {
    return {
      ...(this.#nameIds.size > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(this.#values > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

function checked(text: string, max: number, what: string): string {
  if (text.length > max)
    throw new ConditionTooLongError(
      `${what} is ${text.length} characters, over DynamoDB's limit of ${max}: the item has too many attributes to be written conditionally`,
    );
  return text;
}

/** ConditionExpression: the item holds exactly `read`, and none of `added` exists. */
export function contentCondition(
  ex: Expr,
  read: AttrMap,
  added: readonly string[],
  keyNames: ReadonlySet<string>,
): string {
  const clauses: string[] = [];
  for (const k in read) {
    if (keyNames.has(k)) continue;
    const av = read[k]!;
    clauses.push(
      attrType(av) === 'NULL'
        ? `attribute_type(${ex.name(k)}, ${ex.value({ S: 'NULL' })})`
        : `${ex.name(k)} = ${ex.value(av)}`,
    );
  }
  // an item with no attribute besides its key: say that it exists
  if (clauses.length === 0)
    for (const k of keyNames) clauses.push(`attribute_exists(${ex.name(k)})`);
  for (const k of added) clauses.push(`attribute_not_exists(${ex.name(k)})`);
  return checked(clauses.join(' AND '), MAX_EXPRESSION, 'the ConditionExpression');
}

/** UpdateExpression: SET what changes, REMOVE what the new document drops. */
export function updateExpression(ex: Expr, change: ItemChange): string {
  const parts: string[] = [];
  if (change.set.length > 0)
    parts.push(`SET ${change.set.map(([k, av]) => `${ex.name(k)} = ${ex.value(av)}`).join(', ')}`);
  if (change.remove.length > 0)
    parts.push(`REMOVE ${change.remove.map((k) => ex.name(k)).join(', ')}`);
  return checked(parts.join(' '), MAX_EXPRESSION, 'the UpdateExpression');
}

// ---------------------------------------------------------------- PartiQL

export interface Statement {
  readonly Statement: string;
  readonly Parameters?: AttrValue[];
}

/** A PartiQL identifier: double quotes, `"` doubled (reserved words like `name` need them). */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A PartiQL string literal (the attribute names of INSERT's VALUE tuple). */
function literal(name: string): string {
  return `'${name.replace(/'/g, "''")}'`;
}

/** WHERE: the key, and every attribute of `read` as it was; `added` still missing. */
function where(
  key: AttrMap,
  read: AttrMap | undefined,
  added: readonly string[],
  keyNames: ReadonlySet<string>,
  params: AttrValue[],
): string {
  const clauses: string[] = [];
  for (const k in key) {
    clauses.push(`${ident(k)}=?`);
    params.push(key[k]!);
  }
  if (read !== undefined)
    for (const k in read) {
      if (keyNames.has(k)) continue;
      const av = read[k]!;
      if (attrType(av) === 'NULL') clauses.push(`${ident(k)} IS NULL`);
      else {
        clauses.push(`${ident(k)}=?`);
        params.push(av);
      }
    }
  for (const k of added) clauses.push(`${ident(k)} IS MISSING`);
  return clauses.join(' AND ');
}

/** INSERT: fails (DuplicateItem) when an item with the key exists. */
export function insertStatement(table: string, item: AttrMap): Statement {
  const names = Object.keys(item);
  const text = `INSERT INTO ${ident(table)} VALUE {${names.map((k) => `${literal(k)}:?`).join(',')}}`;
  return {
    Statement: checked(text, MAX_STATEMENT, 'the PartiQL INSERT'),
    Parameters: names.map((k) => item[k]!),
  };
}

/** UPDATE with the content condition (fails with ConditionalCheckFailed, also when absent). */
export function updateStatement(
  table: string,
  key: AttrMap,
  read: AttrMap,
  change: ItemChange,
  keyNames: ReadonlySet<string>,
): Statement {
  const params: AttrValue[] = [];
  const sets = change.set.map(([k, av]) => {
    params.push(av);
    return `SET ${ident(k)}=?`;
  });
  const removes = change.remove.map((k) => `REMOVE ${ident(k)}`);
  const cond = where(key, read, change.added, keyNames, params);
  const text = `UPDATE ${ident(table)} ${[...sets, ...removes].join(' ')} WHERE ${cond}`;
  return { Statement: checked(text, MAX_STATEMENT, 'the PartiQL UPDATE'), Parameters: params };
}

/** DELETE with the content condition (fails with ConditionalCheckFailed, also when absent). */
export function deleteStatement(
  table: string,
  key: AttrMap,
  read: AttrMap,
  keyNames: ReadonlySet<string>,
): Statement {
  const params: AttrValue[] = [];
  const cond = where(key, read, [], keyNames, params);
  const text = `DELETE FROM ${ident(table)} WHERE ${cond}`;
  return { Statement: checked(text, MAX_STATEMENT, 'the PartiQL DELETE'), Parameters: params };
}
