/**
 * A canary in place (`backfill <id> --limit N` / `--filter <expr>`): the migration runs on a
 * subset first, the way a feature flag goes to a few users first. This file is what starts and
 * ends one (the job itself: jobs/backfill-canary.ts):
 * - refusals before anything is written (exit 2): side by side (use `cutover --percent`), without
 *   the journal (verify and rollback of a canary work from its journal), with `--retry-dead`, a
 *   limit that is not a positive integer, a bad filter, or a full backfill already under way
 *   (`--partitions` is not refused with `--limit`, which walks one partition: it has a default);
 * - the catalog entry's `canary` (limit, filter, documents migrated of the collection's) and the
 *   status `canary` at the end, so `status`, `verify` and `rollback` know;
 * - a plain `backfill <id>` after it is the full backfill (engine/backfill.ts): it walks
 *   everything, the canary's documents already at `to` are skipped, and it ends `backfilled`.
 */
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { Journal } from '../state/journal.js';
import type { BackfillOptions, BackfillProgress, BackfillResult } from './backfill.js';
import { parseCanaryFilter } from './canary-filter.js';
import type { EngineContext } from './context.js';
import type { CanaryBackfillJob, CanaryOptions } from './jobs/backfill-canary.js';

/** A canary that cannot run. Nothing was changed. */
export class CanaryRefusedError extends InputError {
  override readonly code = 'E_CANARY_REFUSED';
}

/** What the catalog entry keeps of a canary (`entry.canary`). */
export interface CanaryState extends CanaryOptions {
  startedAt: string;
  /** documents the canaries migrated (journal entries), when the last run ended */
  documents?: number;
  /** the collection's documents then */
  of?: number;
  endedAt?: string;
}

/**
 * The canary of an entry that is in one (status canary, or a canary run under way or paused);
 * undefined otherwise (a full backfill started after it drops it).
 */
export function canaryOf(e: CatalogEntry | null): CanaryState | undefined {
  if (e === null || e.canary === undefined || e.canary === null) return undefined;
  const inOne: string[] = [
    MigrationStatus.canary,
    MigrationStatus.backfilling,
    MigrationStatus.paused,
  ];
  return inOne.includes(e.status) ? (e.canary as CanaryState) : undefined;
}

/** Refuse a canary that cannot run, before anything is read or written. */
export function checkCanary(m: Migration, o: BackfillOptions): void {
  const c = o.canary;
  if (c === undefined) return;
  const refuse = (why: string, field: string) => {
    throw new CanaryRefusedError(why, { field });
  };
  if (c.limit === undefined && c.filter === undefined)
    refuse('a canary needs --limit or --filter', '--limit');
  if (c.limit !== undefined && (!Number.isInteger(c.limit) || c.limit < 1))
    refuse(`--limit must be a positive integer, got ${String(c.limit)}`, '--limit');
  if (c.filter !== undefined) parseCanaryFilter(c.filter);
  if (m.kind === 'side-by-side')
    refuse(
      `migration ${m.id} is side by side: a canary (--limit/--filter) is for in-place migrations; side by side, send a share of reads to the new collection with cutover --percent`,
      '--limit',
    );
  if (o.journal === false)
    refuse(
      'a canary needs the undo journal (its verify and rollback work from it): drop --no-journal',
      '--no-journal',
    );
  if (o.retryDead === true)
    refuse(
      '--retry-dead retries the dead letters whatever their subset: run it without --limit/--filter',
      '--retry-dead',
    );
}

/** Why a canary cannot start from this catalog state (undefined: it can). */
export function refuseCanary(
  e: CatalogEntry,
  canary: CanaryOptions | undefined,
): string | undefined {
  if (canary === undefined) return undefined;
  const s = e.status;
  if (
    s === MigrationStatus.pending ||
    s === MigrationStatus.rolledBack ||
    s === MigrationStatus.canary
  )
    return undefined;
  // a canary that was stopped (Ctrl-C, a kill, a guard's pause) goes on
  if ((s === MigrationStatus.backfilling || s === MigrationStatus.paused) && e.canary !== undefined)
    return undefined;
  if (s === MigrationStatus.backfilling || s === MigrationStatus.paused)
    return `migration ${e.id} is ${s} with a full backfill under way: a canary comes before it. Run backfill ${e.id} to go on, or roll it back first`;
  return `migration ${e.id} is ${s}: a canary (--limit/--filter) runs before the full backfill. Roll it back first to run a canary again`;
}

/** The entry's `canary` when a canary run starts. */
export function canaryEntry(c: CanaryOptions): CanaryState {
  return {
    ...(c.limit !== undefined ? { limit: c.limit } : {}),
    ...(c.filter !== undefined ? { filter: c.filter } : {}),
    startedAt: new Date().toISOString(),
  };
}

/** The subset in words: `the first 50 documents in scan order`, `documents matching tier=gold`. */
export function describeCanary(c: CanaryOptions): string {
  const match = c.filter !== undefined ? ` matching ${c.filter}` : '';
  return c.limit !== undefined
    ? `the first ${c.limit.toLocaleString('en-US')} documents${match} in scan order`
    : `the documents${match}`;
}

/** `canary: 50 of 500 documents migrated (the first 50 documents in scan order)` */
export function canaryText(c: CanaryState): string {
  const n = (v: number | undefined) => (v ?? 0).toLocaleString('en-US');
  const counted =
    c.documents !== undefined ? `${n(c.documents)} of ${n(c.of)} documents migrated` : 'running';
  return `canary: ${counted} (${describeCanary(c)})`;
}

/** Every partition of a canary is done: the status becomes `canary`, with its counts; audited. */
export async function finishCanary(
  ctx: EngineContext,
  m: Migration,
  job: CanaryBackfillJob,
  progress: BackfillProgress,
  base: Omit<BackfillResult, 'outcome' | 'message'>,
): Promise<BackfillResult> {
  const [documents, of] = await Promise.all([
    new Journal(ctx.stateStore, m.id).count(),
    job.source.count(),
  ]);
  let state: CanaryState | undefined;
  await ctx.catalog.update(m.id, (e) => {
    if (e.status !== MigrationStatus.backfilling) return e;
    state = {
      ...((e.canary as CanaryState | undefined) ?? canaryEntry(job.canary)),
      documents,
      of,
      endedAt: new Date().toISOString(),
    };
    return { ...e, status: MigrationStatus.canary, canary: state };
  });
  const what = describeCanary(job.canary);
  if (state !== undefined)
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'backfill',
      migration: m.id,
      params: {
        canary: { ...job.canary },
        documents,
        of,
        migrated: progress.migrated,
        deadLetters: progress.deadLetters,
      },
      outcome: 'canary',
    });
  return {
    ...base,
    outcome: 'canary',
    message: `canary of ${m.collection}: ${documents} of ${of} documents migrated (${what}); this run ${progress.migrated} migrated, ${progress.skipped} skipped, ${progress.conflicts} conflicts retried, ${progress.deadLetters} dead letters. Next: verify ${m.id} checks the canary's documents, rollback ${m.id} restores them, backfill ${m.id} migrates the rest`,
  };
}
