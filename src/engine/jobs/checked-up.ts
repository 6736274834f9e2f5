/**
 * up() of one document as the backfill jobs write it (backfill-in-place.ts, backfill-copy.ts):
 * the result is checked before anything is written, and a result that must not be stored is
 * refused with an error naming why; the job sends the document to the dead letters (its key is
 * the dead letter's) and the rest of the batch goes on.
 *
 * Rules, in this order (the first that fails is the reason):
 * 1. up() throws: its TransformError.
 * 2. the result is not a value of the document model (core/unstorable.ts: a function, a Map, a
 *    BigInt, a circular object, ...): UnstorableResultError naming every path found. It is
 *    checked first: nothing below could hash, check or store such a value faithfully.
 * 3. the result changes the fields the key comes from (core/keys.ts findKeyChange: `_id`, or the
 *    fields that carry the key, as a DynamoDB table's key attributes do): KeyChangedError naming
 *    the field, the old and the new key. Stored, it would stay under the old key.
 *    With a key mapping (side by side, `target.key`) the key is checked first (KeyMappingError:
 *    not mapped, or not invertible on this key), and the fields that carried the key must carry
 *    the target key instead, or be left out (findMappedKeyChange): KeyChangedError otherwise.
 * 4. the result fails the migration's `verify.invariants` or `verify.schema`
 *    (Migration.check): InvalidResultError with every failure.
 * Pure: nothing is read or written here; the same document gives the same answer.
 */
import { SwitchyardError } from '../../core/errors.js';
import { findKeyChange, findMappedKeyChange } from '../../core/keys.js';
import { findUnstorable } from '../../core/unstorable.js';
import type { Doc } from '../../core/values.js';
import type { TransformContext } from '../../migration/lookups.js';
import type { Migration } from '../../migration/migration.js';
import type { Key } from '../../store/contract.js';

/** how many findings or failures a refusal's message lists */
const SHOWN = 5;

/** up() returned something that is not a value of the document model. */
export class UnstorableResultError extends SwitchyardError {
  override readonly code = 'E_UP_UNSTORABLE';
  constructor(
    readonly key: Key,
    readonly paths: readonly string[],
    reasons: readonly string[],
  ) {
    super(
      `up() returned values that cannot be stored, so '${key}' was not written: ${list(reasons)}`,
    );
  }
}

/** up() changed the field(s) the document's key comes from. */
export class KeyChangedError extends SwitchyardError {
  override readonly code = 'E_UP_KEY_CHANGED';
  constructor(
    readonly key: Key,
    readonly field: string,
    readonly before: string,
    readonly after: string | undefined,
    readonly targetKey?: Key,
  ) {
    super(
      targetKey !== undefined
        ? `up() leaves the key field '${field}' at '${after}', but target.key stores '${key}' under '${targetKey}', so it was not written: set '${field}' to the target key in up() (or leave it out)`
        : `up() changes the key field '${field}' from '${before}' to ${after === undefined ? '(absent)' : `'${after}'`}; the document would stay stored under '${key}', so it was not written. Re-key documents with a side-by-side migration to a new collection (target.key)`,
    );
  }
}

/** The result of up() fails the migration's invariants or JSON Schema. */
export class InvalidResultError extends SwitchyardError {
  override readonly code = 'E_UP_INVALID';
  constructor(
    readonly key: Key,
    readonly failures: readonly string[],
  ) {
    super(
      `the result of up() fails the migration's checks (verify.invariants / verify.schema), so '${key}' was not written: ${list(failures)}`,
    );
  }
}

export type CheckedUp = { ok: true; doc: Doc } | { ok: false; error: unknown };

/** up(doc), refused by the rules of the header. */
export function checkedUp(m: Migration, key: Key, doc: Doc, ctx?: TransformContext): CheckedUp {
  let targetKey: Key | undefined;
  if (m.keyMapping !== undefined)
    try {
      targetKey = m.keyMapping.toTarget(key);
    } catch (error) {
      return { ok: false, error };
    }
  let after: Doc;
  try {
    after = m.up(doc, ctx);
  } catch (error) {
    return { ok: false, error };
  }
  const unstorable = findUnstorable(after);
  if (unstorable.length > 0)
    return {
      ok: false,
      error: new UnstorableResultError(
        key,
        unstorable.map((u) => u.path),
        unstorable.map((u) => `${u.path || '/'}: ${u.reason}`),
      ),
    };
  const change =
    targetKey === undefined
      ? findKeyChange(key, doc, after)
      : findMappedKeyChange(key, targetKey, doc, after);
  if (change !== undefined)
    return {
      ok: false,
      error: new KeyChangedError(key, change.field, change.before, change.after, targetKey),
    };
  const failures = m.check(after);
  if (failures.length > 0) return { ok: false, error: new InvalidResultError(key, failures) };
  return { ok: true, doc: after };
}

function list(items: readonly string[]): string {
  const more = items.length - SHOWN;
  return `${items.slice(0, SHOWN).join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
