/**
 * The `onInvalid` option of the converting operations (coerceType, objectToArray,
 * arrayToObject): what to do with a document whose value does not convert.
 *   - 'fail' (the default): refuse the document (OperationError; the backfill dead-letters it).
 *   - 'skip': leave the whole document as it is — no operation of the migration changes it, its
 *     version stays — and count it as skipped. It is never dead-lettered, verify counts it as
 *     skipped rather than drift, and a later run tries it again (and skips it again).
 * Skipping does not change whether an operation is exact: a skipped document is not written, so
 * rollback has nothing to undo for it. The inverse of an operation always fails on bad values:
 * a rollback must never leave half of the documents behind silently.
 */
import { choiceArg } from './option-arg.js';

export const ON_INVALID = ['fail', 'skip'] as const;
export type OnInvalid = (typeof ON_INVALID)[number];

/** The checked `onInvalid` option (default 'fail'); InputError naming the operation. */
export function onInvalidArg(op: string, value: unknown): OnInvalid {
  return choiceArg(op, 'onInvalid', ON_INVALID, value, 'fail');
}

/** `{ onInvalid: 'skip' }` for an operation's `args` when it is set; nothing for the default. */
export function onInvalidArgs(policy: OnInvalid): { onInvalid?: 'skip' } {
  return policy === 'skip' ? { onInvalid: 'skip' } : {};
}
