/**
 * Path helpers shared by the operations: argument checking, and moving values in and out of an
 * object in a way that an inverse can undo exactly.
 *
 * Operations that involve several paths (rename, copy, split, join, nest, unnest) work inside a
 * *scope*: the part of the paths up to and including their last `[]` must be the same, and the
 * operation runs once per element there (or once on the whole document when there is no `[]`).
 * Inside a scope the paths are plain field-name lists ("relative paths").
 *
 * Exactness rules for moving values (relied on by every exact multi-path operation):
 *   - {@link takeValue} removes a field and then removes the objects above it that this left
 *     empty (never the scope itself). Those objects held the field, so they were not empty
 *     before: pruning only removes what the take emptied.
 *   - {@link putValue} creates missing objects above the new field, and refuses (throws) when
 *     the deepest existing object above it is empty (other than the scope): a later take would
 *     prune it, and could not tell it from one the put created.
 * Together: take-after-put restores the objects exactly, and so does put-after-take.
 */
import { InputError } from '../core/errors.js';
import {
  formatSteps,
  getOwn,
  lastKey,
  parsePath,
  setOwn,
  slotsOf,
  type FieldPath,
  type PathStep,
  type Trail,
  withArticle,
} from '../core/field-path.js';
import { isPlainObject, typeOf, type Doc, type Value } from '../core/values.js';
import type { Fail } from './operation.js';

/** Parse an operation's path argument; InputError naming the operation and the argument. */
export function pathArg(
  op: string,
  argName: string,
  value: unknown,
  opts: { field?: boolean } = {},
): FieldPath {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InputError(`${op}: '${argName}' must be a non-empty field path`, { field: argName });
  }
  let path: FieldPath;
  try {
    path = parsePath(value);
  } catch (err) {
    throw new InputError(
      `${op}: '${argName}': ${(err as Error).message}`,
      { field: argName },
      { cause: err },
    );
  }
  if (opts.field === true && lastKey(path) === undefined) {
    throw new InputError(
      `${op}: '${argName}' must end with a field name, not '[]' (got '${value}')`,
      {
        field: argName,
      },
    );
  }
  return path;
}

/** A list of path arguments: an array of at least `min` distinct, non-empty paths. */
export function pathListArg(op: string, argName: string, value: unknown, min: number): FieldPath[] {
  if (!Array.isArray(value) || value.length < min) {
    throw new InputError(`${op}: '${argName}' must be an array of at least ${min} field paths`, {
      field: argName,
    });
  }
  return value.map((v, i) => pathArg(op, `${argName}[${i}]`, v, { field: true }));
}

/** Paths resolved into one scope: the shared array part and the relative field-name lists. */
export interface Scoped {
  /** Steps up to and including the last `[]`; empty when the paths have no `[]`. */
  readonly scope: readonly PathStep[];
  /** Per path, the field names after the scope. */
  readonly rel: readonly (readonly string[])[];
}

/**
 * Split paths into a common scope and relative field-name lists. Throws an InputError when the
 * array parts differ, or when one path is the same as or inside another.
 */
export function scopedPaths(
  op: string,
  named: ReadonlyArray<readonly [string, FieldPath]>,
): Scoped {
  const cut = (p: FieldPath): number => p.steps.map((s) => s.kind).lastIndexOf('each') + 1;
  const [firstName, first] = named[0]!;
  const scope = first.steps.slice(0, cut(first));
  const scopeText = formatSteps(scope);
  const rel: string[][] = [];
  for (const [name, p] of named) {
    const here = formatSteps(p.steps.slice(0, cut(p)));
    if (here !== scopeText) {
      throw new InputError(
        `${op}: '${firstName}' and '${name}' must share their array part ('${first.text}' vs '${p.text}')`,
        { field: name },
      );
    }
    rel.push(p.steps.slice(cut(p)).map((s) => (s as { key: string }).key));
  }
  for (let i = 0; i < rel.length; i++) {
    for (let j = 0; j < rel.length; j++) {
      if (i !== j && isPrefix(rel[i]!, rel[j]!)) {
        const [a, b] = [named[i]!, named[j]!];
        const how = rel[i]!.length === rel[j]!.length ? 'the same path as' : 'inside';
        throw new InputError(
          `${op}: '${b[0]}' ('${b[1].text}') is ${how} '${a[0]}' ('${a[1].text}')`,
          {
            field: b[0],
          },
        );
      }
    }
  }
  return { scope, rel };
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length <= b.length && a.every((k, i) => k === b[i]);
}

/**
 * Run `fn` on the whole document (empty scope) or on every element of the scope that is an
 * object; elements of other types are left alone.
 */
export function forEachScope(
  doc: Doc,
  scope: readonly PathStep[],
  fn: (obj: Doc, trail: Trail) => void,
): void {
  if (scope.length === 0) {
    fn(doc, []);
    return;
  }
  for (const slot of slotsOf(doc, { text: formatSteps(scope), steps: scope })) {
    const el = slot.get();
    if (isPlainObject(el)) fn(el as Doc, slot.trail);
  }
}

/** The value at a relative path, or undefined (through a non-object: undefined). */
export function peek(obj: Doc, keys: readonly string[]): Value | undefined {
  let node: Value | undefined = obj;
  for (const k of keys) {
    if (!isPlainObject(node)) return undefined;
    node = getOwn(node as Doc, k);
  }
  return node;
}

/** Remove and return the value at a relative path, pruning the objects this left empty. */
export function takeValue(obj: Doc, keys: readonly string[]): Value | undefined {
  const chain: Doc[] = [obj];
  for (const k of keys.slice(0, -1)) {
    const next = getOwn(chain[chain.length - 1]!, k);
    if (!isPlainObject(next)) return undefined;
    chain.push(next as Doc);
  }
  const parent = chain[chain.length - 1]!;
  const key = keys[keys.length - 1]!;
  const value = getOwn(parent, key);
  if (value === undefined) return undefined;
  delete parent[key];
  for (let i = chain.length - 1; i > 0 && Object.keys(chain[i]!).length === 0; i--) {
    delete chain[i - 1]![keys[i - 1]!];
  }
  return value;
}

/**
 * Rename the key `from` of `obj` to `to` where it stands, keeping the order of the other keys, so
 * that a rename and its inverse give back the document byte for byte on stores that keep key
 * order (SQLite JSON text, Redis JSON strings). False (and nothing changed) when `from` is absent.
 */
export function renameKeyInPlace(obj: Doc, from: string, to: string): boolean {
  if (getOwn(obj, from) === undefined) return false;
  const entries = Object.entries(obj);
  for (const [k] of entries) delete obj[k];
  for (const [k, v] of entries) setOwn(obj, k === from ? to : k, v);
  return true;
}

/**
 * Put a value at a relative path that must be absent, creating missing objects above it. Fails
 * when the field exists, when an object above it is another kind of value, or when the deepest
 * existing object above it (other than the scope) is empty — see the module comment.
 */
export function putValue(
  obj: Doc,
  keys: readonly string[],
  value: Value,
  trail: Trail,
  fail: Fail,
): void {
  let node = obj;
  let i = 0;
  for (; i < keys.length - 1; i++) {
    const next = getOwn(node, keys[i]!);
    if (next === undefined) break;
    if (!isPlainObject(next)) {
      throw fail(
        `cannot create '${keys.slice(i + 1).join('.')}' inside ${withArticle(typeOf(next))}`,
        [...trail, ...keys.slice(0, i + 1)],
      );
    }
    node = next as Doc;
  }
  if (i === keys.length - 1 && getOwn(node, keys[i]!) !== undefined) {
    throw fail('the target field already exists', [...trail, ...keys]);
  }
  if (i > 0 && Object.keys(node).length === 0) {
    throw fail(
      'the target would go into an existing empty object, which an exact rollback could not tell from one created here',
      [...trail, ...keys.slice(0, i)],
    );
  }
  for (; i < keys.length - 1; i++) {
    const made: Doc = {};
    setOwn(node, keys[i]!, made);
    node = made;
  }
  setOwn(node, keys[keys.length - 1]!, value);
}

/** Fail unless the field at a relative path is absent. */
export function requireAbsent(obj: Doc, keys: readonly string[], trail: Trail, fail: Fail): void {
  if (peek(obj, keys) !== undefined)
    throw fail('the target field already exists', [...trail, ...keys]);
}

/**
 * The `from` and `to` arguments of a two-field operation (rename, copy, remove a copy): both
 * checked as field paths, with their shared array scope and each one's field names after it.
 */
export function fromToPaths(
  op: string,
  from: string,
  to: string,
): { scope: Scoped['scope']; src: readonly string[]; dst: readonly string[] } {
  const f = pathArg(op, 'from', from, { field: true });
  const t = pathArg(op, 'to', to, { field: true });
  const { scope, rel } = scopedPaths(op, [
    ['from', f],
    ['to', t],
  ]);
  return { scope, src: rel[0]!, dst: rel[1]! };
}
