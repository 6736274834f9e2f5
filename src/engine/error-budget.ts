/**
 * The error budget of a backfill (and a side-by-side copy): what makes a run that sends
 * documents to the dead letters stop, or end as something other than "backfilled".
 *
 * Rules:
 * - the error budget is a contingency threshold (runner/thresholds.ts): `deadLetters` above its
 *   count AND `deadLetterRate` above its fraction (the `and` level, judged however few documents
 *   were scanned: the count is the minimum), action `pause`, job `backfill`, tagged
 *   `guard: 'error-budget'`. The resolved config's `thresholds` hold it (DEFAULT_ERROR_BUDGET:
 *   more than 10 and more than 1%) unless the config writes its own entry with that tag;
 *   library callers who pass no such entry get the default here;
 * - it is judged with the other thresholds after every batch, and its trip is reported as the
 *   guard `error-budget` (audit `guard.trip`, the run ends `guard-tripped`, exit 1; with
 *   `--auto-rollback` it rolls back like any guard). An entry with action `alert` or `throttle`
 *   acts as such a threshold does and stops nothing;
 * - `--max-errors 10,1%` (`errorBudget`, or `guards.budget`) sets its levels; `errorBudget:
 *   false` (`--max-errors off`) removes it; a limit on failures of the caller's own (`error-rate`,
 *   `dead-letters`: `--max-errors 100`, `--guard`) replaces it; other guards (conflict rate, p99)
 *   are kept beside it;
 * - whatever the budget, a run in which every document that needed a transform went to the dead
 *   letters (none migrated, at least one failed) never ends "backfilled": it ends `incomplete`
 *   (exit 1) and the migration stays backfilling. `--retry-dead` passes are judged by neither
 *   (they go through the dead letters only).
 */
import { DEFAULT_ERROR_BUDGET, type ErrorBudget, type Guards } from './runner/guards.js';
import type { Threshold, ThresholdAction } from './runner/thresholds.js';

export { DEFAULT_ERROR_BUDGET, type ErrorBudget };

/** The error budget as a threshold: more than `deadLetters` AND more than `percent`% failed. */
export function errorBudgetThreshold(
  b: ErrorBudget = DEFAULT_ERROR_BUDGET,
  action: ThresholdAction = 'pause',
): Threshold {
  return {
    metric: 'deadLetters',
    above: b.deadLetters,
    and: { metric: 'deadLetterRate', above: Number((b.percent / 100).toPrecision(12)) },
    action,
    job: 'backfill',
    guard: 'error-budget',
  };
}

/** The default error budget, as the resolved config lists it. */
export const DEFAULT_ERROR_BUDGET_THRESHOLD: Threshold = errorBudgetThreshold();

export function isErrorBudget(t: Threshold): boolean {
  return t.guard === 'error-budget';
}

/** The levels of an error-budget threshold, as `--max-errors` writes them. */
export function budgetOf(t: Threshold): ErrorBudget {
  return {
    deadLetters: t.above,
    percent: Number(((t.and?.above ?? 0) * 100).toPrecision(12)),
  };
}

/** The config's thresholds with the default error budget, unless they hold one already. */
export function withDefaultErrorBudget(thresholds: readonly Threshold[]): Threshold[] {
  // the budget is the backfill's (a config entry may leave `job` out)
  const out = thresholds.map((t) => (isErrorBudget(t) ? { ...t, job: 'backfill' as const } : t));
  return out.some(isErrorBudget) ? out : [...out, DEFAULT_ERROR_BUDGET_THRESHOLD];
}

/**
 * The guards and thresholds of a run (the rules above): the error budget set, replaced or
 * removed in the thresholds, and taken out of the guards (where `--max-errors 10,1%` puts it).
 */
export function budgetedLimits(
  guards: Guards | undefined,
  thresholds: readonly Threshold[] | undefined,
  budget: ErrorBudget | false | undefined,
): { guards: Guards | undefined; thresholds: Threshold[] } {
  const { budget: fromGuards, ...rest } = guards ?? {};
  const others = Object.values(rest).some((v) => v !== undefined) ? rest : undefined;
  const given = (thresholds ?? []).find(isErrorBudget);
  const without = (thresholds ?? []).filter((t) => !isErrorBudget(t));
  const wanted = budget === false ? undefined : (budget ?? fromGuards);
  const entry =
    budget === false
      ? undefined
      : wanted !== undefined
        ? errorBudgetThreshold(wanted, given?.action)
        : limitsErrors(others)
          ? undefined
          : (given ?? DEFAULT_ERROR_BUDGET_THRESHOLD);
  return { guards: others, thresholds: entry !== undefined ? [...without, entry] : without };
}

/** The caller set a limit on failures of its own (error-rate, dead-letters). */
function limitsErrors(g: Guards | undefined): boolean {
  return g !== undefined && (g.errorRatePercent !== undefined || g.deadLetters !== undefined);
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
