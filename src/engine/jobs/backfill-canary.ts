/**
 * The canary backfill job (`backfill --limit N` / `--filter <expr>`): the in-place backfill
 * (backfill-in-place.ts) on a subset of the collection first. Its partitions live apart from the
 * full backfill's (key `<migration>#canary`), so the full backfill that follows makes its own plan
 * and walks everything: the canary's documents are at `to` by then and are skipped (no transform,
 * no write, no journal entry).
 *
 * Which documents:
 * - `--filter`: only documents matching it are handed to the in-place job (canary-filter.ts); a
 *   stored document that cannot be read matches only a `@key` filter (its fields are unknown);
 * - `--limit N`: the canary stops once N documents are migrated in all — the journal's entries
 *   (every canary run's, so `--limit 100` after `--limit 50` migrates 50 more). It walks ONE
 *   partition in the store's scan order, so "the first N" is the first N documents needing the
 *   transform in that order (key order on SQLite, DynamoDB within a hash key and MongoDB; SCAN
 *   order on Redis), whatever the number of workers: another worker that joins finds the one
 *   partition leased and waits. Documents already at `to`, dead letters and documents left as
 *   they are do not count.
 *
 * Resume rules (on top of the in-place job's and the runner's):
 * - the limit is counted from the journal when a worker opens the partition (base) plus what its
 *   own batches migrated since; a page is never larger than what is left, so a run never migrates
 *   more than N. A killed run, resumed, counts again from the journal: what the lost batch wrote
 *   is in it (the journal goes with the data, in one transaction or written first). Where the
 *   journal is written first, an entry whose data write never happened counts too: the canary
 *   then migrates at most N, possibly a few fewer;
 * - the plan's parameters (limit, filter) are the first worker's; a run with other ones replaces
 *   an unfinished plan (the workers of the old one stop); a finished canary is walked afresh by
 *   the next canary run (engine/backfill.ts clears its partitions).
 */
import type { Migration } from '../../migration/migration.js';
import type { Journal } from '../../state/journal.js';
import type { PartitionState, PlanState } from '../../state/partitions.js';
import type { Range, StoredDoc } from '../../store/contract.js';
import { parseCanaryFilter, type CanaryFilter } from '../canary-filter.js';
import type { EngineContext } from '../context.js';
import type { PartitionWork } from '../runner/job.js';
import { InPlaceBackfillJob } from './backfill-in-place.js';

/** What a canary run is asked to do (both may be given: the first N matching documents). */
export interface CanaryOptions {
  /** migrate at most this many documents in all (counted from the journal) */
  limit?: number;
  /** only documents matching this filter (canary-filter.ts) */
  filter?: string;
}

/** Where a canary's partitions live in `_sy_partitions`. */
export function canaryPlanKey(migrationId: string): string {
  return `${migrationId}#canary`;
}

export class CanaryBackfillJob extends InPlaceBackfillJob {
  override readonly key: string;
  readonly canary: CanaryOptions;
  readonly #journal: Journal;

  constructor(ctx: EngineContext, m: Migration, journal: Journal, canary: CanaryOptions) {
    // no final sweep: a canary leaves the rest at the old version on purpose
    super(ctx, m, journal, { finalSweep: false });
    this.key = canaryPlanKey(m.id);
    this.canary = canary;
    this.#journal = journal;
  }

  /** One partition with a limit (the first N in scan order), else the usual split. */
  override async plan(n: number): Promise<{ ranges: Range[]; params: Record<string, unknown> }> {
    const ranges = await this.source.split(this.canary.limit !== undefined ? 1 : n);
    return { ranges, params: { canary: paramsOf(this.canary) } };
  }

  /** An unfinished plan is joined only by a run with the same limit and filter. */
  override restartPlan(plan: PlanState): boolean {
    return JSON.stringify(plan.params?.canary) !== JSON.stringify(paramsOf(this.canary));
  }

  override async count(): Promise<number> {
    const all = await this.source.count();
    return this.canary.limit !== undefined ? Math.min(all, this.canary.limit) : all;
  }

  override open(partition?: PartitionState, plan?: PlanState): PartitionWork {
    const inner = super.open(partition);
    // the plan's parameters, which every worker shares (the first worker's)
    const params = (plan?.params?.canary as CanaryOptions | undefined) ?? this.canary;
    const filter: CanaryFilter | undefined =
      params.filter !== undefined ? parseCanaryFilter(params.filter) : undefined;
    const limit = params.limit;
    let base: number | undefined;
    let since = 0;
    return {
      batch: async (items, io) => {
        const chosen = filter === undefined ? items : choose(items, filter);
        const counts = await inner.batch(chosen, io);
        since += counts.migrated ?? 0;
        return counts;
      },
      ...(limit !== undefined
        ? {
            remaining: async (io) => {
              base ??= await io.retrying('journal', () => this.#journal.count());
              return Math.max(0, limit - base - since);
            },
          }
        : {}),
    };
  }
}

/** The items the filter takes (an unreadable one is marked with an empty doc: only `@key` can take it). */
function choose(items: readonly StoredDoc[], filter: CanaryFilter): StoredDoc[] {
  return items.filter((i) => filter.matches(i.key, i.doc));
}

function paramsOf(c: CanaryOptions): Record<string, unknown> {
  return {
    ...(c.limit !== undefined ? { limit: c.limit } : {}),
    ...(c.filter !== undefined ? { filter: c.filter } : {}),
  };
}
