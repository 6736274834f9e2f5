/**
 * The error budget of a backfill (and a side-by-side copy): what makes a run that sends
 * documents to the dead letters stop, or end as something other than "backfilled".
 *
 * Rules:
 * - unless told otherwise (`errorBudget: false`, `--max-errors off`), every run has the
 *   `error-budget` guard (runner/guards.ts, DEFAULT_ERROR_BUDGET: more than 10 dead letters AND
 *   more than 1% of the documents scanned): checked after every batch like any guard, a trip
 *   pauses the migration and the run ends `guard-tripped` (exit 1). A limit on failures the
 *   caller gives (a budget, `error-rate`, `dead-letters`: `--max-errors`, `--guard`) replaces it;
 *   other guards (conflict rate, p99) are kept beside it;
 * - whatever the budget, a run in which every document that needed a transform went to the dead
 *   letters (none migrated, at least one failed) never ends "backfilled": it ends `incomplete`
 *   (exit 1) and the migration stays backfilling. `--retry-dead` passes are judged by neither
 *   (they go through the dead letters only).
 */
import { DEFAULT_ERROR_BUDGET, type ErrorBudget, type Guards } from './runner/guards.js';

export { DEFAULT_ERROR_BUDGET, type ErrorBudget };

/** The guards of a run: the caller's, and the error budget unless it is off. */
export function budgetedGuards(
  guards: Guards | undefined,
  budget: ErrorBudget | false | undefined,
): Guards | undefined {
  if (budget === false) return guards;
  if (budget === undefined && limitsErrors(guards)) return guards;
  return { ...guards, budget: budget ?? DEFAULT_ERROR_BUDGET };
}

/** The caller set a limit on failures of its own (a budget, error-rate, dead-letters). */
function limitsErrors(g: Guards | undefined): boolean {
  return (
    g !== undefined &&
    (g.budget !== undefined || g.errorRatePercent !== undefined || g.deadLetters !== undefined)
  );
}

/** Why a finished run is not a success although every partition is done, or undefined. */
export function everyDocumentFailed(p: {
  migrated: number;
  errors: number;
  deadLetters: number;
}): string | undefined {
  if (p.migrated > 0 || p.errors === 0) return undefined;
  return `every document that needed a transform failed: 0 migrated, ${p.errors} sent to the dead letters (${p.deadLetters} held). Nothing is backfilled: see the dead letters (switchyard status), fix the migration, then run backfill --retry-dead`;
}
