/**
 * `plan`: a dry run of a migration on a sample. Nothing is written anywhere. For each sampled
 * document: the diff up() would make, or the error; the invariants and the after-schema on the
 * result; and the round trip down(up(d)) == d where the migration has a down. Returns counts
 * plus capped samples (never a bare boolean).
 *
 * What a backfill could not do right is a failure of that document, named by key and path:
 * - up() returns a value that cannot be stored (a function, a Map, a BigInt, a circular object,
 *   undefined in an array: core/unstorable.ts); nothing else is run on that result;
 * - up() changes the field the key comes from (`_id`, a table's key attributes: core/keys.ts):
 *   the store would keep the result under the old key;
 * - up() is not deterministic: every result is computed a second time, in a second pass a few
 *   milliseconds later (so `Date.now()` moves too), and must be the same. A side-by-side verify
 *   of such a migration can never pass, and every rerun of a backfill rewrites the documents.
 * And across documents: values of the migration's unique fields (migration/unique-fields.ts), and
 * of the fields the store keeps unique itself (engine/unique-constraints.ts), that two or more of
 * the sample's results share (`collisions`); only within the sample.
 * With lookups (migration/lookups.ts), the sample's looked-up documents are read like the
 * backfill reads them (one getMany per batch of the sample and looked-up collection, from the
 * data store, nothing written) and both runs of up() see them; the report lists each lookup with
 * how many sampled documents found their looked-up document.
 */
import { diff, type DiffEntry } from '../core/diff.js';
import { findKeyChange, type KeyChange } from '../core/keys.js';
import { findUnstorable, type UnstorableValue } from '../core/unstorable.js';
import { canonicalString, type Doc } from '../core/values.js';
import type { Key, PassEstimate, Store } from '../store/contract.js';
import { lookupKey, NO_LOOKUPS, type TransformContext } from '../migration/lookups.js';
import type { LossyStep, Migration } from '../migration/migration.js';
import { constraintSource, findCollisions, type Collision } from '../migration/unique-fields.js';
import { constraintsToCheck, writtenCollection } from './unique-constraints.js';
import { readLookups } from './lookups.js';
import { sampleCollection } from './sample.js';

export const DEFAULT_PLAN_SAMPLE = 100;
export const DEFAULT_PLAN_SHOW = 10;
/** sampled documents whose lookups are read in one getMany per looked-up collection */
const LOOKUP_BATCH = 500;
/** between the two runs of up() on each document: long enough for the clock to move */
const DETERMINISM_DELAY_MS = 5;

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
  /** values of up()'s result that cannot be stored, by path */
  unstorable?: UnstorableValue[];
  /** up() changed the field the key comes from */
  keyChange?: KeyChange;
  /** where two runs of up() on this document gave different results */
  nondeterministic?: string[];
  /** a fan-out: the documents it would write to the fan-out's collection, each as a diff from nothing */
  emitted?: { collection: string; key: Key; diff: DiffEntry[] }[];
}

/** A lookup the migration reads, and what the sample found of it. */
export interface PlanLookup {
  name: string;
  collection: string;
  by: string;
  /** sampled documents (not yet migrated) whose looked-up document exists */
  found: number;
  /** sampled documents (not yet migrated) with a key but no such document */
  notFound: number;
  /** sampled documents (not yet migrated) whose `by` field holds no usable key */
  noKey: number;
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
  /** failed because up() returned values that cannot be stored (counted in `failed` too) */
  unstorable: number;
  /** failed because up() changed the key (counted in `failed` too) */
  keyChanges: number;
  /** documents on which two runs of up() gave different results */
  nondeterministic: number;
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
  /**
   * values of the unique fields that several of the sample's documents would share after the
   * migration (their results; unchanged and failed documents as they are stored); absent when
   * the migration declares no unique fields
   */
  collisions?: Collision[];
  /**
   * the unique constraints checked (`collisions`) and where each comes from (`declared`, or the
   * store's own: a DynamoDB table key, a MongoDB unique index), and what the store has that is
   * not unique (DynamoDB secondary indexes); absent when there is nothing to say
   */
  unique?: { checked: { name: string; source: string }[]; notUnique: string[] };
  /** stores that meter capacity (DynamoDB): what a full backfill would consume, from the sample */
  capacity?: PassEstimate;
  /** the collections up() reads (the migration's `lookups`), absent when none */
  lookups?: PlanLookup[];
  /** a fan-out: the collection written besides the migrated one, and what the sample would write */
  fanOut?: { path: string; into: string; parentField: string; documents: number; parents: number };
  /** a split: the target whose documents this report shows */
  target?: string;
  /**
   * a split (`targets`): the report of each other target, on the same sample (this report is
   * the first target's)
   */
  targets?: PlanReport[];
}

/**
 * A dry run (the header). For a split, each target's up() runs on the same sample (one seed):
 * the first target's report, with the others' in `targets`.
 */
export async function plan(
  store: Store,
  migration: Migration,
  options: PlanOptions = {},
): Promise<PlanReport> {
  if (migration.extraTargets.length === 0) return planTarget(store, migration, options);
  const same = { ...options, seed: options.seed ?? Math.floor(Math.random() * 2 ** 31) };
  const named = async (t: Migration) => ({
    ...(await planTarget(store, t, same)),
    target: t.target!.collection,
  });
  const report = await named(migration);
  report.targets = [];
  for (const t of migration.extraTargets) report.targets.push(await named(t));
  return report;
}

async function planTarget(
  store: Store,
  migration: Migration,
  options: PlanOptions,
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
    unstorable: 0,
    keyChanges: 0,
    nondeterministic: 0,
    reversible: migration.reversible,
    lossy: [...migration.lossy],
    roundTrip: { checked: 0, exact: 0, differs: 0, failed: 0 },
    paths: {},
    errors: {},
    documents: [],
  };
  const contexts = await sampleLookups(
    store,
    migration,
    sample.map((s) => s.doc),
  );
  if (migration.hasLookups) report.lookups = lookupSummary(migration, sample, contexts);
  const shown: PlanDocument[] = [];
  const interesting: PlanDocument[] = [];
  const fail = (entry: PlanDocument, kind: string, detail: string): void => {
    entry.status = 'failed';
    entry.error = detail;
    report.failed += 1;
    report.errors[kind] = (report.errors[kind] ?? 0) + 1;
  };
  /** the storable results, to run up() on again in a second pass */
  const results: {
    entry: PlanDocument;
    doc: Doc;
    after: Doc;
    canonical: string;
    ctx: TransformContext;
  }[] = [];
  /** what a backfill would read and write, for stores that meter capacity */
  const sizes: { before: Doc; after: Doc | null }[] = [];
  for (const [i, { key, doc }] of sample.entries()) {
    const ctx = contexts[i] ?? NO_LOOKUPS;
    const entry: PlanDocument = { key, status: 'unchanged' };
    if (migration.isMigrated(doc)) {
      report.unchanged += 1;
      sizes.push({ before: doc, after: null });
    } else {
      let after: Doc | undefined;
      try {
        after = migration.up(doc, ctx);
      } catch (err) {
        fail(entry, (err as Error).message, (err as Error).message);
      }
      if (after !== undefined) checkResult(entry, key, doc, after, ctx);
    }
    if (
      entry.status === 'failed' ||
      entry.checks !== undefined ||
      (entry.roundTrip !== undefined && entry.roundTrip !== 'exact')
    )
      interesting.push(entry);
    else shown.push(entry);
  }

  function checkResult(
    entry: PlanDocument,
    key: string,
    doc: Doc,
    after: Doc,
    ctx: TransformContext,
  ): void {
    const unstorable = findUnstorable(after);
    if (unstorable.length > 0) {
      entry.unstorable = unstorable;
      report.unstorable += 1;
      const first = unstorable[0]!;
      fail(
        entry,
        `up() returns a value that cannot be stored: ${first.reason}`,
        `up() returns values that cannot be stored: ${unstorable.map((u) => `${u.path || '/'}: ${u.reason}`).join('; ')}`,
      );
      return;
    }
    const keyChange = findKeyChange(key, doc, after);
    if (keyChange !== undefined) {
      entry.keyChange = keyChange;
      report.keyChanges += 1;
      fail(
        entry,
        `up() changes the key field '${keyChange.field}': the document would stay stored under its old key`,
        `up() changes the key field '${keyChange.field}' from '${keyChange.before}' to ${keyChange.after === undefined ? '(absent)' : `'${keyChange.after}'`}: the document would stay stored under '${key}'. Write a side-by-side migration to a new collection to re-key documents`,
      );
      return;
    }
    if (migration.fanOut !== undefined) {
      // what the backfill writes to the other collection: every emitted document, as a diff
      let emitted;
      try {
        emitted = migration.fanOut.emit(key, doc).emitted;
      } catch (err) {
        fail(entry, (err as Error).message, (err as Error).message);
        return;
      }
      const f = (report.fanOut ??= { ...fanOutOf(migration), documents: 0, parents: 0 });
      f.documents += emitted.length;
      f.parents += 1;
      entry.emitted = emitted.map((e) => ({
        collection: f.into,
        key: e.key,
        diff: diff({}, e.doc),
      }));
    }
    sizes.push({ before: doc, after });
    entry.status = 'changed';
    entry.diff = diff(doc, after);
    report.changed += 1;
    results.push({ entry, doc, after, canonical: canonicalString(after), ctx });
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
  }

  // the second run of up(), a little later: a result that depends on the clock or on chance differs
  await new Promise((resolve) => setTimeout(resolve, DETERMINISM_DELAY_MS));
  for (const r of results) {
    let again: Doc;
    try {
      again = migration.up(r.doc, r.ctx);
    } catch (err) {
      r.entry.nondeterministic = [`(the second run threw: ${(err as Error).message})`];
      report.nondeterministic += 1;
      continue;
    }
    if (findUnstorable(again).length === 0 && canonicalString(again) === r.canonical) continue;
    r.entry.nondeterministic = diff(r.after, again)
      .map((d) => d.path || '/')
      .slice(0, 10);
    if (r.entry.nondeterministic.length === 0) r.entry.nondeterministic = ['/'];
    report.nondeterministic += 1;
    if (!interesting.includes(r.entry)) {
      shown.splice(shown.indexOf(r.entry), 1);
      interesting.push(r.entry);
    }
  }
  // show the problems first, then ordinary changes, up to `show`
  report.documents = [...interesting, ...shown].slice(
    0,
    Math.max(show, Math.min(interesting.length, show * 2)),
  );
  report.reversible =
    migration.reversible && report.roundTrip.differs === 0 && report.roundTrip.failed === 0;
  const { constraints, notUnique } = await constraintsToCheck(
    migration,
    writtenCollection(store, migration),
  );
  if (constraints.length > 0 || notUnique.length > 0)
    report.unique = {
      checked: constraints.map((c) => ({ name: c.name, source: constraintSource(c) })),
      notUnique,
    };
  if (constraints.length > 0) {
    const after = new Map(results.map((r) => [r.entry.key, r.after]));
    report.collisions = findCollisions(
      constraints,
      sample.map(({ key, doc }) => ({ key, doc: after.get(key) ?? doc })),
    );
  }
  const estimate = await store
    .collection(report.collection)
    .estimatePass?.(sizes, seen, { journal: migration.kind === 'in-place' });
  if (estimate !== undefined) report.capacity = estimate;
  return report;
}

function fanOutOf(m: Migration): { path: string; into: string; parentField: string } {
  const f = m.fanOut!;
  return { path: f.path, into: f.into, parentField: f.parentField };
}

/** The sample's lookups, read like the backfill reads them (engine/lookups.ts), in batches. */
async function sampleLookups(
  store: Store,
  m: Migration,
  docs: readonly Doc[],
): Promise<TransformContext[]> {
  const out: TransformContext[] = [];
  for (let i = 0; i < docs.length; i += LOOKUP_BATCH)
    out.push(...(await readLookups(store, m, docs.slice(i, i + LOOKUP_BATCH))));
  return out;
}

/** Per lookup, what the sampled documents a backfill would transform found. */
function lookupSummary(
  m: Migration,
  sample: readonly { doc: Doc }[],
  contexts: readonly TransformContext[],
): PlanLookup[] {
  return Object.entries(m.lookups).map(([name, spec]) => {
    const l: PlanLookup = { name, ...spec, found: 0, notFound: 0, noKey: 0 };
    sample.forEach(({ doc }, i) => {
      if (m.isMigrated(doc)) return;
      if (lookupKey(doc, spec) === null) l.noKey += 1;
      else if (contexts[i]?.lookups[name] != null) l.found += 1;
      else l.notFound += 1;
    });
    return l;
  });
}
