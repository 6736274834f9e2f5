/**
 * The order of a collection's chain of in-place migrations, as the catalog knows it.
 *
 * Rules:
 * - A step is *applied* once its backfill has started and until it is rolled back: every status
 *   but `pending` and `rolled-back` (a failed or paused backfill has moved some documents).
 * - A step is *later* than `m` when it is in place, on the same collection, and starts at or
 *   after `m.to` (1->2 is followed by 2->3, 3->4, ...).
 * - Rolling back `m` while a later step is applied would restore nothing (its documents are at
 *   the later version) yet mark `m` rolled back: refused, naming the latest applied step, which
 *   is the one to roll back first.
 * - Verifying `m` while a later step is applied is verifying a superseded step: its documents
 *   are rightly at a newer version, so verify checks only that they are at or past `m.to`.
 * Pure functions over catalog entries: the engine calls them, the dashboard and CLI reach them
 * through the engine.
 */
import { MigrationStatus, type CatalogEntry } from './catalog.js';

/** what is needed of a migration to place it in its chain */
export interface ChainStep {
  id: string;
  collection: string;
  to: number;
}

const NOT_APPLIED: ReadonlySet<string> = new Set([
  MigrationStatus.pending,
  MigrationStatus.rolledBack,
]);

/** The applied in-place steps after `m` on its collection, latest (highest `to`) first. */
export function laterAppliedSteps(entries: readonly CatalogEntry[], m: ChainStep): CatalogEntry[] {
  return entries
    .filter(
      (e) =>
        e.id !== m.id &&
        e.kind === 'in-place' &&
        e.collection === m.collection &&
        e.from >= m.to &&
        !NOT_APPLIED.has(e.status),
    )
    .sort((a, b) => b.to - a.to || a.id.localeCompare(b.id));
}

/** Why `m` cannot be rolled back now, or undefined when no later step is applied. */
export function rollbackBlockedBy(
  entries: readonly CatalogEntry[],
  m: ChainStep,
): string | undefined {
  const later = laterAppliedSteps(entries, m);
  if (later.length === 0) return undefined;
  const first = later[0]!;
  const all = later.map((e) => `${e.id} (${e.from}->${e.to}, ${e.status})`).join(', ');
  return `migration ${m.id} is not the last applied step of collection '${m.collection}': ${all} ${later.length === 1 ? 'was' : 'were'} applied after it, so its documents are at a later version. Roll back ${first.id} first (switchyard rollback ${first.id}), then ${m.id}`;
}
