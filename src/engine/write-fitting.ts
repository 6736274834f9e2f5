/**
 * Writing a batch in which a document may be too large for the store (DynamoDB's 400 KB item
 * limit, reached after the transform): that document becomes a dead letter naming its key and
 * size, and the rest of the batch is written. Stores refuse such a document with
 * DocumentTooLargeError before anything of the batch is written (store-errors.ts), so the batch
 * is simply sent again without it. Used by the backfill and catch-up.
 */
import type { WriteOp, WriteResult } from '../store/contract.js';
import { DocumentTooLargeError } from '../store/store-errors.js';

export async function writeFitting(
  ops: readonly WriteOp[],
  write: (ops: WriteOp[]) => Promise<WriteResult[]>,
  onTooLarge: (err: DocumentTooLargeError) => Promise<void>,
): Promise<WriteResult[]> {
  let rest = [...ops];
  for (;;) {
    try {
      return rest.length === 0 ? [] : await write(rest);
    } catch (err) {
      if (!(err instanceof DocumentTooLargeError) || !rest.some((op) => op.key === err.key))
        throw err;
      await onTooLarge(err);
      rest = rest.filter((op) => op.key !== err.key);
    }
  }
}
