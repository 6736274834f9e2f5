import { expect } from 'vitest';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { OperationError } from '../../src/migration/operation-error.js';
import type { Operation } from '../../src/migration/operation.js';

/** Apply, check the input was not mutated, and (for exact operations) that the inverse restores it. */
export function applyChecked(op: Operation, doc: Doc): Doc {
  const before = canonicalString(doc);
  const out = op.apply(doc);
  expect(canonicalString(doc)).toBe(before);
  const inv = op.inverse();
  if (inv !== undefined) expect(canonicalString(inv.apply(out))).toBe(before);
  return out;
}

/** The OperationError `op` throws for `doc`. */
export function refusal(op: Operation, doc: Doc): OperationError {
  try {
    op.apply(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(OperationError);
    expect((err as OperationError).code).toBe('E_OPERATION');
    return err as OperationError;
  }
  throw new Error(`${op.describe()} accepted ${JSON.stringify(doc)}`);
}
