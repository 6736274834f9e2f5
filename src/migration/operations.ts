import type { Doc } from '../core/values.js';
import type { Operation } from './operation.js';

/** A sequence of operations as one transformation. */
export interface ComposedOperations {
  readonly operations: readonly Operation[];
  /** Apply every operation in order. Never mutates `doc`. */
  up(doc: Doc): Doc;
  /** Apply the inverses in reverse order; undefined when any operation is lossy. */
  readonly down: ((doc: Doc) => Doc) | undefined;
  /** The lossy operations and why each is lossy (empty when `down` exists). */
  readonly lossy: ReadonlyArray<{ readonly op: Operation; readonly reason: string }>;
  /** Operations whose exactness rests on a user-supplied inverse (checked on samples only). */
  readonly unproven: readonly Operation[];
}

/**
 * Compose operations: `up` applies them in order; `down` applies their inverses in reverse
 * order, and exists only when none is lossy. Each step gets the previous step's output, so an
 * OperationError from any step propagates unchanged.
 */
export function composeOperations(ops: readonly Operation[]): ComposedOperations {
  const operations = Object.freeze([...ops]);
  const lossy = operations.flatMap((op) => (op.lossy === false ? [] : [{ op, reason: op.lossy }]));
  const inverses = lossy.length === 0 ? operations.map((op) => op.inverse()!).reverse() : undefined;
  const run = (list: readonly Operation[], doc: Doc): Doc => {
    let out = doc;
    for (const op of list) out = op.apply(out);
    return list.length === 0 ? { ...doc } : out;
  };
  return Object.freeze({
    operations,
    up: (doc: Doc) => run(operations, doc),
    down: inverses === undefined ? undefined : (doc: Doc) => run(inverses, doc),
    lossy: Object.freeze(lossy),
    unproven: Object.freeze(operations.filter((op) => op.userInverse)),
  });
}
