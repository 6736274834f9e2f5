/**
 * When a backfill may run without the undo journal (`--no-journal`): only when rollback can undo
 * it with `down()` and `down()` is exact by construction — every inverse is the library's own,
 * proven by the property-based harness (docs/concepts/migrations.md, "Exact and lossy").
 *
 * A hand-written inverse (a custom `down()`, `mapValue` with an inverse function) is trusted,
 * not proven: `plan` checks it on a sample only. Were it wrong, a rollback without the journal
 * would rewrite every document wrongly with nothing left to restore from, so that is refused
 * too. Side by side nothing is journaled (the source is never written): the rule does not apply.
 */
import type { Migration } from './migration.js';

/** Why a backfill of `m` needs the journal, or undefined when `--no-journal` is safe. */
export function whyJournalNeeded(m: Migration): string | undefined {
  if (m.kind === 'side-by-side' || m.provablyExact) return undefined;
  if (!m.reversible)
    return `--no-journal needs an exactly invertible migration, and ${m.id} is not: ${m.lossy.map((l) => `${l.step} (${l.reason})`).join('; ')}. Without the journal it could not be rolled back.`;
  const byHand = [
    ...m.operations.filter((op) => op.userInverse).map((op) => op.describe()),
    ...(m.hasCustomDown ? ['the custom down()'] : []),
  ];
  return `--no-journal needs a provably exact migration, and the inverse of ${m.id} is written by hand (${byHand.join('; ')}): plan checks it on a sample, nothing proves it. Were it wrong, a rollback without the journal would rewrite every document with nothing left to restore from. Keep the journal (the default).`;
}
