/**
 * The operation contract. An operation is data with behaviour: it knows how to apply itself to
 * a document, how to invert itself exactly — or that it cannot, and why — and how to describe
 * itself. Every operation in the catalogue is built with {@link defineOperation}.
 *
 * "Exact" means: for every document `d` that `apply` accepts (does not throw for),
 * `inverse().apply(apply(d))` is canonically equal to `d`, and `inverse()` is exact too.
 * test/migration/operations-harness.test.ts checks this for every operation, and, for every
 * operation that declares itself lossy, finds two documents it maps to the same result.
 */
import { formatTrail, getOwn, setOwn, type Trail } from '../core/field-path.js';
import { isPlainObject, type Doc, type Value } from '../core/values.js';
import type { OnInvalid } from './on-invalid.js';
import { OperationError, SkippedDocumentError } from './operation-error.js';
import type { SchemaEffect } from './schema-effect.js';

export interface Operation {
  /** The factory that made it: 'renameField', 'coerceType', ... */
  readonly name: string;
  /** The factory's arguments as JSON-friendly values (functions show as '[function]'). */
  readonly args: readonly unknown[];
  /** The field paths it reads or writes, as given. */
  readonly touches: readonly string[];
  /** false when `inverse()` undoes it exactly; otherwise why no exact inverse exists. */
  readonly lossy: false | string;
  /** What it does to the shape of documents (paths, types, presence): see schema-effect.ts. */
  readonly effects: readonly SchemaEffect[];
  /**
   * true when exactness rests on a user-supplied inverse function (`mapValue(path, fn, inv)`):
   * the library cannot prove that `inv` undoes `fn`; `plan` checks it on samples only.
   */
  readonly userInverse: boolean;
  /** A new document; never mutates `doc`. Throws an {@link OperationError} for a document it cannot change. */
  apply(doc: Doc): Doc;
  /** The exact inverse, or undefined when the operation is lossy. */
  inverse(): Operation | undefined;
  /** A one-line human description: `rename 'name' to 'fullName'`. */
  describe(): string;
}

/** An {@link OperationError} of this operation at a concrete location, to throw: `throw fail(...)`. */
export type Fail = (
  message: string,
  where?: Trail,
  cause?: unknown,
  /** A location already spelled out, used when `where` is undefined. */
  whereText?: string,
) => OperationError;

/** What an operation is made of (see {@link defineOperation}). */
export interface OperationSpec {
  name: string;
  args: readonly unknown[];
  touches: readonly string[];
  lossy: false | string;
  userInverse?: boolean;
  /** What it does to document shapes; default: `opaque` on every path it touches. */
  effects?: readonly SchemaEffect[];
  description: string;
  /**
   * Change `doc` — a private copy — in place. Refuse the document with `throw fail(...)`. `input` is the
   * document as given, for user functions that read it; it must not be changed.
   */
  mutate(doc: Doc, fail: Fail, input: Readonly<Doc>): void;
  /** The inverse (required when not lossy); called lazily, so two operations may name each other. */
  inverse?: () => Operation;
  /**
   * 'skip': a refusal becomes a {@link SkippedDocumentError} — leave the document as it is
   * (see on-invalid.ts). Default 'fail'.
   */
  onInvalid?: OnInvalid;
}

/** Build an {@link Operation}: copying, error wrapping and the lossy/inverse contract in one place. */
export function defineOperation(spec: OperationSpec): Operation {
  if (spec.lossy === false && spec.inverse === undefined) {
    throw new TypeError(`${spec.name}: an exact operation needs an inverse`);
  }
  const description = spec.description;
  const fail: Fail = (message, where, cause, whereText) =>
    new OperationError(description, message, {
      ...(where !== undefined
        ? { where: formatTrail(where) }
        : whereText !== undefined
          ? { where: whereText }
          : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  return Object.freeze({
    name: spec.name,
    args: Object.freeze([...spec.args]),
    touches: Object.freeze([...spec.touches]),
    lossy: spec.lossy,
    effects: Object.freeze([
      ...(spec.effects ?? spec.touches.map((path): SchemaEffect => ({ kind: 'opaque', path }))),
    ]),
    userInverse: spec.userInverse === true,
    apply(doc: Doc): Doc {
      if (!isPlainObject(doc)) throw fail('a document must be an object');
      const out = copyDoc(doc);
      try {
        spec.mutate(out, fail, doc);
      } catch (err) {
        const refusal =
          err instanceof OperationError
            ? err
            : fail(err instanceof Error ? err.message : String(err), undefined, err);
        if (spec.onInvalid === 'skip' && !(refusal instanceof SkippedDocumentError))
          throw new SkippedDocumentError(refusal);
        throw refusal;
      }
      return out;
    },
    inverse(): Operation | undefined {
      return spec.lossy === false ? spec.inverse!() : undefined;
    },
    describe(): string {
      return description;
    },
  });
}

/**
 * A copy of a document whose objects, arrays and dates are new; bson values (ObjectId, Long,
 * Decimal128, Binary, ...) are immutable in practice and shared.
 */
export function copyDoc(doc: Doc): Doc {
  return copyValue(doc) as Doc;
}

export function copyValue(v: Value): Value {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyValue);
  if (v instanceof Date) return new Date(v.getTime());
  if (!isPlainObject(v)) return v;
  const out: Doc = {};
  for (const key of Object.keys(v)) setOwn(out, key, copyValue(getOwn(v as Doc, key)!));
  return out;
}

/** A short, JSON-friendly form of a value for `args` and descriptions. */
export function showArg(v: unknown): unknown {
  if (typeof v === 'function') return '[function]';
  return v;
}

/** A value quoted for a description: `'name'`, `['a', 'b']`. */
export function q(v: string | readonly string[]): string {
  return typeof v === 'string' ? `'${v}'` : `[${v.map((s) => `'${s}'`).join(', ')}]`;
}
