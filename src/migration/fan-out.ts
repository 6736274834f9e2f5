/**
 * Fan-out (issue 16 item 2): the elements of an embedded array move into documents of another
 * collection, one per element, and the array leaves the parent:
 *   fanOut: { path: 'auditLog', into: 'auditLogs', parentField: 'userId' }
 * turns `users/u1 { auditLog: [{ at: 1 }, { at: 2 }] }` into `users/u1 {}` and
 * `auditLogs/u1:0 { at: 1, userId: 'u1', index: 0 }`, `auditLogs/u1:1 { at: 2, userId: 'u1',
 * index: 1 }`.
 *
 * A declared hook of the migration, not an entry of `operations`: an operation is a pure function
 * of one document (apply, invert, validate on that document alone), while a fan-out needs the
 * parent's key, writes to another collection, and its inverse reads that collection. The engine
 * owns what that needs (journal, conditional writes, rollback, verify: engine/fan-out.ts); the
 * pure part — what is emitted and how it folds back — is here and is property-tested.
 *
 * Rules:
 * - `path` is a field path of plain names (`auditLog`, `history.entries`); its value must be an
 *   array (empty allowed) of objects. Anything else (absent, null, a string, an element that is
 *   not an object, an element that already has `parentField` or `indexField`) refuses the
 *   document: FanOutError, a dead letter naming its key. The fan-out runs on the document as
 *   stored, before the operations and up().
 * - an emitted document is the element plus `_id` (its key, as every stored document carries it),
 *   `parentField` (the parent's key) and `indexField` (its position, default `index`): what
 *   folding back needs to rebuild the array exactly. An element that already has one of these
 *   three fields is refused (an element's own `_id`: not supported yet).
 * - its key is `key(parentKey, element, index)`, default `${parentKey}:${index}`: deterministic,
 *   so a redone batch writes the same keys. Keys must be non-empty strings, distinct within a
 *   parent; otherwise FanOutError.
 * - `foldBack(parent, children)` is the inverse: the children of one parent, in `indexField`
 *   order, without the two added fields, set back at `path`. foldBack(emit(d)) equals d.
 */
import { getOwn } from '../core/field-path.js';
import { isPlainObject, type Doc, type Value } from '../core/values.js';
import { SwitchyardError } from '../core/errors.js';
import { copyDoc } from './operation.js';

export const DEFAULT_FAN_OUT_INDEX_FIELD = 'index';
/** the field an emitted document carries its key in (as every document of the stores does) */
const KEY_FIELD = '_id';

/** How a fan-out is declared (`fanOut` of a migration definition). */
export interface FanOutDefinition {
  /** the array field of the parent whose elements move out (plain names: `a.b`) */
  path: string;
  /** the collection (of the data store) that receives one document per element */
  into: string;
  /** the field of an emitted document that holds the parent's key */
  parentField: string;
  /** the field of an emitted document that holds its position in the array (default `index`) */
  indexField?: string;
  /** the key of an emitted document (default `${parentKey}:${index}`); must be deterministic */
  key?: (parentKey: string, element: Doc, index: number) => string;
}

/** An emitted document and its key in `into`. */
export interface Emitted {
  key: string;
  doc: Doc;
}

/** A document the fan-out refuses (a dead letter naming the parent's key). */
export class FanOutError extends SwitchyardError {
  override readonly code = 'E_FAN_OUT';
}

export class FanOut {
  readonly path: string;
  readonly into: string;
  readonly parentField: string;
  readonly indexField: string;
  readonly #names: readonly string[];
  readonly #key: (parentKey: string, element: Doc, index: number) => string;

  constructor(def: FanOutDefinition) {
    this.path = def.path;
    this.into = def.into;
    this.parentField = def.parentField;
    this.indexField = def.indexField ?? DEFAULT_FAN_OUT_INDEX_FIELD;
    this.#names = def.path.split('.');
    this.#key = def.key ?? ((parentKey, _e, index) => `${parentKey}:${index}`);
  }

  describe(): string {
    return `fanOut ${this.path} -> ${this.into} (${this.parentField})`;
  }

  /**
   * The parent without the array (what up() starts from). Throws FanOutError when the array or
   * an element is refused (the rules of the header); `label` names the document in the message.
   */
  parentOf(doc: Doc, label?: string): Doc {
    this.#elements(doc, label);
    const parent = copyDoc(doc);
    delete (this.#holder(parent) as Doc)[this.#names[this.#names.length - 1]!];
    return parent;
  }

  /**
   * The parent without the array, and the documents its elements become. Throws FanOutError
   * naming the parent's key and why (the rules of the header).
   */
  emit(parentKey: string, doc: Doc): { parent: Doc; emitted: Emitted[] } {
    const label = `'${parentKey}'`;
    const elements = this.#elements(doc, label);
    const emitted: Emitted[] = [];
    const seen = new Set<string>();
    elements.forEach((element, index) => {
      let key: unknown;
      try {
        key = this.#key(parentKey, element, index);
      } catch (err) {
        throw new FanOutError(
          `${label}: fanOut key() threw on element ${index}: ${(err as Error)?.message ?? String(err)}`,
          { cause: err },
        );
      }
      if (typeof key !== 'string' || key === '')
        throw new FanOutError(
          `${label}: fanOut key() returned ${describeValue(key as Value)} for element ${index}, not a non-empty string`,
        );
      if (seen.has(key))
        throw new FanOutError(
          `${label}: fanOut key() returned '${key}' for two elements of ${this.path}`,
        );
      seen.add(key);
      emitted.push({
        key,
        doc: {
          [KEY_FIELD]: key,
          ...copyDoc(element),
          [this.parentField]: parentKey,
          [this.indexField]: index,
        },
      });
    });
    return { parent: this.parentOf(doc, label), emitted };
  }

  /** The array's elements, checked (the rules of the header). */
  #elements(doc: Doc, label: string | undefined): Doc[] {
    const at = label === undefined ? '' : `${label}: `;
    const holder = this.#holder(doc);
    const arr =
      holder === undefined ? undefined : getOwn(holder, this.#names[this.#names.length - 1]!);
    if (!Array.isArray(arr))
      throw new FanOutError(`${at}fanOut ${this.path} needs an array, found ${describeValue(arr)}`);
    arr.forEach((element, index) => {
      if (!isPlainObject(element))
        throw new FanOutError(
          `${at}element ${index} of ${this.path} is ${describeValue(element)}, not an object`,
        );
      for (const f of [KEY_FIELD, this.parentField, this.indexField])
        if (Object.hasOwn(element, f))
          throw new FanOutError(
            `${at}element ${index} of ${this.path} already has a field '${f}' (the fan-out adds it)`,
          );
    });
    return arr as Doc[];
  }

  /**
   * The parent with its array rebuilt from its emitted documents (those of other parents are
   * ignored): the inverse of `emit`. Throws FanOutError when the positions are not 0..n-1.
   */
  foldBack(parentKey: string, parent: Doc, children: readonly Doc[]): Doc {
    const mine = children.filter((c) => c[this.parentField] === parentKey);
    const arr: Value[] = [];
    for (const c of mine) {
      const i = c[this.indexField];
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= mine.length || i in arr)
        throw new FanOutError(
          `'${parentKey}': the emitted documents' ${this.indexField} values are not 0..${mine.length - 1}`,
        );
      const { [KEY_FIELD]: _k, [this.parentField]: _p, [this.indexField]: _i, ...element } = c;
      arr[i] = element;
    }
    const out = copyDoc(parent);
    let holder: Doc = out;
    for (const name of this.#names.slice(0, -1)) {
      const next = getOwn(holder, name);
      if (!isPlainObject(next))
        throw new FanOutError(
          `'${parentKey}': cannot put ${this.path} back: ${name} is not an object`,
        );
      holder = next as Doc;
    }
    holder[this.#names[this.#names.length - 1]!] = arr;
    return out;
  }

  /** the object that holds the array's field, or undefined when the path does not reach one */
  #holder(doc: Doc): Doc | undefined {
    let v: Value | undefined = doc;
    for (const name of this.#names.slice(0, -1)) {
      if (!isPlainObject(v)) return undefined;
      v = getOwn(v as Doc, name);
    }
    return isPlainObject(v) ? (v as Doc) : undefined;
  }
}

function describeValue(v: Value | undefined): string {
  if (v === undefined) return 'nothing (the field is absent)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string`;
  if (typeof v === 'object') return v instanceof Date ? 'a date' : 'an object';
  return `a ${typeof v}`;
}
