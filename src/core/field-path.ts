/**
 * Field paths: how operations name the parts of a document they touch.
 *
 * Syntax (see docs/field-paths.md):
 *   - `a.b.c`            dot-separated field names, one level each;
 *   - `items[]`          every element of the array `items`;
 *   - `emails[].address` the field `address` of every element of `emails`;
 *   - `a.b[].c[].d`      any mix; `m[][]` is every element of every element of `m`.
 * A field name is any non-empty run of characters other than `.`, `[` and `]`. Keys that contain
 * one of those three characters cannot be expressed (write an `up`/`down` function instead).
 *
 * Resolution follows the data: a step through a missing value, `null`, or a value of the wrong
 * kind (a string where an object or array is needed) resolves to nothing, as in MongoDB queries.
 * Only writes with `create` make missing intermediate objects, and they refuse to write through
 * a value that is present but not an object (a {@link FieldPathError}).
 *
 * The functions that change documents (`visit` with `create`, `updateAt`, `setAt`, `deleteAt`)
 * mutate the document they are given; operations call them on a copy.
 */
import { InputError, SwitchyardError } from './errors.js';
import { isPlainObject, typeOf, type Doc, type Value } from './values.js';

/** A type name with its article, for messages: 'an int', 'a string', 'an objectId'. */
export function withArticle(typeName: string): string {
  return `${/^[aeiou]/i.test(typeName) ? 'an' : 'a'} ${typeName}`;
}

/** One step of a path: a field of an object, or every element of an array. */
export type PathStep = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'each' };

/** A parsed field path. `text` is its canonical spelling. */
export interface FieldPath {
  readonly text: string;
  readonly steps: readonly PathStep[];
}

/** A concrete location: field names and array indexes from the document root. */
export type Trail = readonly (string | number)[];

/** A path could not be written: it runs through a value that is not an object. */
export class FieldPathError extends SwitchyardError {
  override readonly code: string = 'E_FIELD_PATH';
  /** The concrete location of the problem, e.g. `items[2].price`. */
  readonly where: string;
  constructor(message: string, where: string) {
    super(`at '${where}': ${message}`);
    this.where = where;
  }
}

const EACH: PathStep = Object.freeze({ kind: 'each' });
const SEGMENT = /^([^.[\]]+)((?:\[\])*)$/;

/**
 * Parse a field path. Throws an {@link InputError} naming the path on bad syntax: an empty
 * path or segment (`a..b`, `.a`, `a.`), `[]` not at the end of a field name (`a[]b`, `[]`,
 * `a.[]`), or a stray `[` / `]`.
 */
export function parsePath(text: string): FieldPath {
  if (typeof text !== 'string')
    throw new InputError(`a field path must be a string, got ${typeof text}`);
  if (text.length === 0) throw new InputError('a field path must not be empty');
  const steps: PathStep[] = [];
  const segments = text.split('.');
  for (const [i, segment] of segments.entries()) {
    const m = SEGMENT.exec(segment);
    if (m === null)
      throw new InputError(`invalid field path '${text}': ${segmentProblem(segment, i)}`);
    steps.push(Object.freeze({ kind: 'key', key: m[1]! }));
    for (let n = m[2]!.length / 2; n > 0; n--) steps.push(EACH);
  }
  return Object.freeze({ text, steps: Object.freeze(steps) });
}

function segmentProblem(segment: string, index: number): string {
  const where = `segment ${index + 1}`;
  if (segment.length === 0) return `${where} is empty`;
  if (segment.startsWith('[')) return `${where} ('${segment}'): '[]' must follow a field name`;
  return `${where} ('${segment}'): '[' and ']' may only appear as '[]' at the end of a field name`;
}

/** Whether the path contains an array step (`[]`). */
export function hasEach(path: FieldPath): boolean {
  return path.steps.some((s) => s.kind === 'each');
}

/** The field name of the last step, or undefined when the path ends with `[]`. */
export function lastKey(path: FieldPath): string | undefined {
  const last = path.steps[path.steps.length - 1];
  return last?.kind === 'key' ? last.key : undefined;
}

/** The canonical text of a list of steps. */
export function formatSteps(steps: readonly PathStep[]): string {
  let out = '';
  for (const s of steps) {
    if (s.kind === 'each') out += '[]';
    else out += out.length === 0 ? s.key : `.${s.key}`;
  }
  return out;
}

/** A concrete location as text: `emails[2].address`. The document root is `(root)`. */
export function formatTrail(trail: Trail): string {
  let out = '';
  for (const t of trail) {
    if (typeof t === 'number') out += `[${t}]`;
    else out += out.length === 0 ? t : `.${t}`;
  }
  return out.length === 0 ? '(root)' : out;
}

/** An own property of a plain object (never one inherited, so `__proto__` is just a key). */
export function getOwn(obj: Doc, key: string): Value | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Set an own property, safely for the key `__proto__`. */
export function setOwn(obj: Doc, key: string, value: Value): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    obj[key] = value;
  }
}

/**
 * One concrete location a path resolves to: a field of an object (`key` is a string) or an
 * element of an array (`key` is an index). The location may hold no value (`present` false) when
 * the path names a field that the object lacks.
 */
export class Slot {
  readonly parent: Doc | Value[];
  readonly key: string | number;
  readonly trail: Trail;
  constructor(parent: Doc | Value[], key: string | number, trail: Trail) {
    this.parent = parent;
    this.key = key;
    this.trail = trail;
  }
  /** The location as text, e.g. `emails[2].address`. */
  get where(): string {
    return formatTrail(this.trail);
  }
  get present(): boolean {
    return this.get() !== undefined;
  }
  get(): Value | undefined {
    if (Array.isArray(this.parent)) return this.parent[this.key as number];
    return getOwn(this.parent, this.key as string);
  }
  set(value: Value): void {
    if (Array.isArray(this.parent)) this.parent[this.key as number] = value;
    else setOwn(this.parent, this.key as string, value);
  }
  /** Remove the field. Array elements cannot be removed (that would shift their neighbours). */
  delete(): void {
    if (Array.isArray(this.parent)) {
      throw new FieldPathError('an array element cannot be deleted', this.where);
    }
    delete this.parent[this.key as string];
  }
}

/** Options of {@link visit}. */
export interface VisitOptions {
  /** Create missing intermediate objects on field steps (never arrays). Default false. */
  create?: boolean;
}

/**
 * Call `fn` for every concrete location `path` resolves to in `doc`, whether or not it holds a
 * value (a field location is visited when its parent object exists). Locations are collected
 * before `fn` runs, so `fn` may change the values it is given. Returns the number of locations.
 */
export function visit(
  doc: Doc,
  path: FieldPath,
  fn: (slot: Slot) => void,
  options: VisitOptions = {},
): number {
  const found: Slot[] = [];
  collect(doc, path.steps, 0, [], options.create === true, found);
  for (const slot of found) fn(slot);
  return found.length;
}

/** Every concrete location of `path` in `doc` (see {@link visit}). */
export function slotsOf(doc: Doc, path: FieldPath, options: VisitOptions = {}): Slot[] {
  const found: Slot[] = [];
  collect(doc, path.steps, 0, [], options.create === true, found);
  return found;
}

function collect(
  node: Value | undefined,
  steps: readonly PathStep[],
  i: number,
  trail: Trail,
  create: boolean,
  out: Slot[],
): void {
  const step = steps[i]!;
  const last = i === steps.length - 1;
  if (step.kind === 'each') {
    if (!Array.isArray(node)) return;
    for (let n = 0; n < node.length; n++) {
      if (last) out.push(new Slot(node, n, [...trail, n]));
      else collect(node[n], steps, i + 1, [...trail, n], create, out);
    }
    return;
  }
  if (!isPlainObject(node)) return;
  const here = [...trail, step.key];
  if (last) {
    out.push(new Slot(node as Doc, step.key, here));
    return;
  }
  let child = getOwn(node as Doc, step.key);
  if (create && steps[i + 1]!.kind === 'key') {
    if (child === undefined) {
      child = {};
      setOwn(node as Doc, step.key, child);
    } else if (!isPlainObject(child)) {
      throw new FieldPathError(
        `cannot create a field inside ${withArticle(typeOf(child))}`,
        formatTrail(here),
      );
    }
  }
  collect(child, steps, i + 1, here, create, out);
}

/** A value found at a path, with where it was found. */
export interface Found {
  readonly value: Value;
  readonly trail: Trail;
  readonly where: string;
}

/** Every value present at `path` in `doc`, in document order. */
export function getAll(doc: Doc, path: FieldPath): Found[] {
  const out: Found[] = [];
  for (const slot of slotsOf(doc, path)) {
    const value = slot.get();
    if (value !== undefined) out.push({ value, trail: slot.trail, where: slot.where });
  }
  return out;
}

/** Whether at least one value is present at `path`. */
export function has(doc: Doc, path: FieldPath): boolean {
  return slotsOf(doc, path).some((s) => s.present);
}

/**
 * Replace every value present at `path` by what `fn` returns for it. Mutates `doc`; returns the
 * number of values visited. Absent locations are not visited.
 */
export function updateAt(
  doc: Doc,
  path: FieldPath,
  fn: (value: Value, slot: Slot) => Value,
): number {
  let n = 0;
  for (const slot of slotsOf(doc, path)) {
    const value = slot.get();
    if (value === undefined) continue;
    slot.set(fn(value, slot));
    n++;
  }
  return n;
}

/**
 * Set the value at `path`, creating missing intermediate objects along field steps; with `[]`
 * steps, every existing element gets it. `value` may be a function of the location, so that
 * each location gets its own copy. Mutates `doc`; returns the number of locations set.
 */
export function setAt(doc: Doc, path: FieldPath, value: Value | ((slot: Slot) => Value)): number {
  return visit(doc, path, (slot) => slot.set(typeof value === 'function' ? value(slot) : value), {
    create: true,
  });
}

/**
 * Delete the field at `path` everywhere it is present. The path must end with a field name.
 * Mutates `doc`; returns the number of fields deleted.
 */
export function deleteAt(doc: Doc, path: FieldPath): number {
  if (lastKey(path) === undefined) {
    throw new FieldPathError(
      'a path ending in [] names array elements, which cannot be deleted',
      path.text,
    );
  }
  let n = 0;
  for (const slot of slotsOf(doc, path)) {
    if (!slot.present) continue;
    slot.delete();
    n++;
  }
  return n;
}
