/**
 * `plan`: a dry run of a migration on a sample. Nothing is written anywhere. For each sampled
 * document: the diff up() would make, or the error; the invariants and the after-schema on the
 * result; and the round trip down(up(d)) == d where the migration has a down. Returns counts
 * plus capped samples (never a bare boolean).
 */
import { diff, type DiffEntry } from '../core/diff.js';
import type { Doc } from '../core/values.js';
import type { Key, PassEstimate, Store } from '../store/contract.js';
import type { LossyStep, Migration } from '../migration/migration.js';
import { sampleCollection } from './sample.js';

export const DEFAULT_PLAN_SAMPLE = 100;
export const DEFAULT_PLAN_SHOW = 10;

export interface PlanOptions {
  /** how many documents to sample (default 100) */
  sample?: number;
  /** how many documents to show in full (default 10) */
  show?: number;
  seed?: number;
  signal?: AbortSignal;
  /** plan against another collection (a copy, a staging collection) instead of the migration's */
  collection?: string;
}

export interface PlanDocument {
  key: Key;
  status: 'changed' | 'unchanged' | 'failed';
  diff?: DiffEntry[];
  error?: string;
  /** invariant and schema failures of the result */
  checks?: string[];
  roundTrip?: 'exact' | 'differs' | 'failed';
}

export interface PlanReport {
  migration: string;
  collection: string;
  kind: 'in-place' | 'side-by-side';
  from: number;
  to: number;
  /** documents in the collection */
  total: number;
  sampled: number;
  changed: number;
  /** already at the target version: a backfill would skip them */
  unchanged: number;
  failed: number;
  /** results that break an invariant or the after-schema */
  checkFailures: number;
  /** true when down exists and down(up(d)) == d for every changed document in the sample */
  reversible: boolean;
  /** the steps that have no exact inverse, with why */
  lossy: LossyStep[];
  roundTrip: { checked: number; exact: number; differs: number; failed: number };
  /** paths changed, with how many sampled documents changed there */
  paths: Record<string, number>;
  /** errors by message, with counts */
  errors: Record<string, number>;
  documents: PlanDocument[];
  /** stores that meter capacity (DynamoDB): what a full backfill would consume, from the sample */
  capacity?: PassEstimate;
}

export async function plan(
  store: Store,
  migration: Migration,
  options: PlanOptions = {},
): Promise<PlanReport> {
  const size = options.sample ?? DEFAULT_PLAN_SAMPLE;
  const show = options.show ?? DEFAULT_PLAN_SHOW;
  const { sample, seen } = await sampleCollection(
    store.collection(options.collection ?? migration.collection),
    {
      size,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    },
  );
  sample.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const report: PlanReport = {
    migration: migration.id,
    collection: options.collection ?? migration.collection,
    kind: migration.kind,
    from: migration.from,
    to: migration.to,
    total: seen,
    sampled: sample.length,
    changed: 0,
    unchanged: 0,
    failed: 0,
    checkFailures: 0,
    reversible: migration.reversible,
    lossy: [...migration.lossy],
    roundTrip: { checked: 0, exact: 0, differs: 0, failed: 0 },
    paths: {},
    errors: {},
    documents: [],
  };
  const shown: PlanDocument[] = [];
  const interesting: PlanDocument[] = [];
  const sizes: { before: Doc; after: Doc | null }[] = [];
  for (const { key, doc } of sample) {
    const entry: PlanDocument = { key, status: 'unchanged' };
    if (migration.isMigrated(doc)) {
      report.unchanged += 1;
      sizes.push({ before: doc, after: null });
    } else {
      try {
        const after = migration.up(doc);
        sizes.push({ before: doc, after });
        entry.status = 'changed';
        entry.diff = diff(doc, after);
        report.changed += 1;
        for (const d of entry.diff) report.paths[d.field] = (report.paths[d.field] ?? 0) + 1;
        const checks = migration.check(after);
        if (checks.length > 0) {
          entry.checks = checks;
          report.checkFailures += 1;
        }
        if (migration.reversible) {
          report.roundTrip.checked += 1;
          try {
            const back = migration.down(after);
            if (migration.sameAtFrom(back, doc)) {
              entry.roundTrip = 'exact';
              report.roundTrip.exact += 1;
            } else {
              entry.roundTrip = 'differs';
              report.roundTrip.differs += 1;
            }
          } catch (err) {
            entry.roundTrip = 'failed';
            report.roundTrip.failed += 1;
            entry.error = `down: ${(err as Error).message}`;
          }
        }
      } catch (err) {
        entry.status = 'failed';
        entry.error = (err as Error).message;
        report.failed += 1;
        report.errors[entry.error] = (report.errors[entry.error] ?? 0) + 1;
      }
    }
    if (
      entry.status === 'failed' ||
      entry.checks !== undefined ||
      (entry.roundTrip !== undefined && entry.roundTrip !== 'exact')
    )
      interesting.push(entry);
    else shown.push(entry);
  }
  // show the problems first, then ordinary changes, up to `show`
  report.documents = [...interesting, ...shown].slice(
    0,
    Math.max(show, Math.min(interesting.length, show * 2)),
  );
  report.reversible =
    migration.reversible && report.roundTrip.differs === 0 && report.roundTrip.failed === 0;
  const estimate = await store
    .collection(report.collection)
    .estimatePass?.(sizes, seen, { journal: migration.kind === 'in-place' });
  if (estimate !== undefined) report.capacity = estimate;
  return report;
}
