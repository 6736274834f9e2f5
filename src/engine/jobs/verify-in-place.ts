/**
 * The in-place verify job: every stored document is checked against what the migration should
 * have produced (`checkDocuments`), and every journalled document must still exist. Its
 * partitions are of two sides, both split: the data collection's ranges (`side: 'data'`) and
 * the journal's (`side: 'journal'`, in the state store), so both directions scale out.
 *
 * Per document (data side):
 * - with a journal entry: the document must still be what the migration wrote. A content hash
 *   equal to the journal's `afterHash` is a match without re-running up() (cheap, and immune to
 *   non-deterministic transforms). Otherwise the expected document is up(before-image) and the
 *   report gives the differing paths and both values;
 * - without one (skipped as already migrated, written later by the application, or a backfill
 *   without the journal): it must be at the target version, unless up() leaves it as it is
 *   (an operation's `onInvalid: 'skip'` refuses it): then it is counted `leftAsIs`, not drift;
 * - every migrated document must pass the invariants and the after-schema.
 * With lookups (engine/lookups.ts), the page's looked-up documents are read in one getMany per
 * page and looked-up collection, by the before-image's key field (what the backfill read by), and
 * up() is recomputed with them. The journal entry keeps the hash of every looked-up document the
 * backfill used; where one differs now, the document is recomputed even if it is still what the
 * backfill wrote: equal, it matches; different, it is counted `lookupChanged` (naming the key and
 * the lookups), not `mismatched`: the backfill used the value it read, and a looked-up document
 * changed later does not re-run a document (docs/guides/across-collections.md). A document the
 * application changed since whose lookup also changed is `lookupChanged` too: without the old
 * looked-up document, what the backfill would produce now cannot be told.
 * Per journal entry (journal side): its document must exist (else `missing`); with a fan-out,
 * the documents a migrated parent emits must exist and equal what up() emits (engine/fan-out.ts).
 * Progress counts the two sides apart (`sides`: documents and journal entries, each done/total):
 * the runner's done/total is their sum, items not documents.
 *
 * A canary (`backfill --limit/--filter`, status canary) is verified on its subset only (`canary`):
 * the journal's side alone, each entry's document read by key and checked as above (gone:
 * `missing`), so the documents the canary did not touch — still at the old version — are not
 * drift, and the cost is the canary's size, not the collection's.
 *
 * Resume rules: what a partition found so far (`VerifyAcc`: counts, path counts, capped samples,
 * running hashes of expected and actual content) is checkpointed with its cursor after every
 * page, so a resumed partition continues exactly where the uninterrupted one would be, and the
 * merged report of a resumed verify is the report of an uninterrupted one (the running hashes
 * follow the scan order, which a resumed scan keeps).
 */
import { createHash } from 'node:crypto';
import { diff, type DiffEntry } from '../../core/diff.js';
import { contentHash, type Doc } from '../../core/values.js';
import { NO_LOOKUPS, type TransformContext } from '../../migration/lookups.js';
import type { Migration } from '../../migration/migration.js';
import { isSkippedDocument } from '../../migration/operation-error.js';
import {
  beforeImage,
  Journal,
  journalCollectionName,
  type JournalEntry,
} from '../../state/journal.js';
import type { PartitionState } from '../../state/partitions.js';
import type { Collection, Range, ScanPage, Store, StoredDoc } from '../../store/contract.js';
import type { EngineContext } from '../context.js';
import { changedLookups, verifyContexts } from '../lookups.js';
import { checkEmitted } from '../fan-out.js';
import { JobPass, type BatchIo, type Job, type PartitionWork } from '../runner/job.js';
import { readEach, splitUnreadable, withUnreadable } from './unreadable-items.js';

export * from './verify-acc.js';
import { emptyAcc, toMismatch, type VerifyAcc, type VerifySides } from './verify-acc.js';

/** Chain a running hash: sha1(previous + item). Order-dependent, so both sides scan in the same order. */
function chain(prev: string, item: string): string {
  return createHash('sha1').update(prev).update(item).digest('base64');
}

/**
 * Check stored documents (with their journal entries, null where none) into `acc`. `contexts`:
 * per document, the looked-up documents as read now (engine/lookups.ts verifyContexts); none
 * when the migration has no lookups.
 */
export function checkDocuments(
  m: Migration,
  entries: readonly (JournalEntry | null)[],
  acc: VerifyAcc,
  items: readonly StoredDoc[],
  maxSamples: number,
  contexts?: readonly TransformContext[],
): void {
  items.forEach(({ key, doc }, i) => {
    const entry = entries[i] ?? null;
    const ctx = contexts?.[i] ?? NO_LOOKUPS;
    const c = acc.counts;
    c.compared += 1;
    const actualHash = contentHash(doc);
    acc.actualHash = chain(acc.actualHash, `${key}\u0000${actualHash}`);
    if (m.standing(doc) === 'newer') {
      c.newer = (c.newer ?? 0) + 1; // a partition saved by an older version has no `newer`
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
      return;
    }
    if (!m.isMigrated(doc)) {
      if (leftAsIs(m, doc, ctx)) {
        c.leftAsIs = (c.leftAsIs ?? 0) + 1; // a partition saved by an older version has none
        acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
        return;
      }
      c.oldVersion += 1;
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000(at v${m.to})`);
      if (acc.samples.oldVersion.length < maxSamples)
        acc.samples.oldVersion.push({ key, version: m.versionOf(doc) });
      return;
    }
    let problems = false;
    // the lookups whose document changed since the backfill read it (its journal entry says)
    const changed =
      entry?.lookups !== undefined && contexts !== undefined
        ? changedLookups(entry.lookups, ctx)
        : [];
    if (entry !== null && (entry.afterHash !== actualHash || changed.length > 0)) {
      // changed since the migration wrote it (or what it looked up did): how it differs from
      // up(before) with the lookups as they are now
      let expected: Doc | undefined;
      let why: DiffEntry[] = [];
      try {
        expected = m.up(beforeImage(entry), ctx);
        why = diff(expected, m.withoutProvenance(doc), { limit: 50 });
      } catch (err) {
        why = [
          {
            op: 'replace',
            path: '',
            field: '(up failed)',
            before: String((err as Error).message),
            after: null,
          },
        ];
      }
      if (why.length > 0 && changed.length > 0) {
        // not drift: the backfill used the value it read (chained as matching, so the range
        // hashes do not call the range divergent)
        c.lookupChanged = (c.lookupChanged ?? 0) + 1;
        acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
        const samples = (acc.samples.lookupChanged ??= []);
        if (samples.length < maxSamples)
          samples.push({ ...toMismatch(key, why), lookups: changed });
        problems = true;
      } else {
        acc.expectedHash = chain(
          acc.expectedHash,
          // still what the backfill wrote and recomputed equal: chained as a match
          `${key}\u0000${entry.afterHash === actualHash && why.length === 0 ? actualHash : expected !== undefined ? contentHash(expected) : 'up failed'}`,
        );
        if (why.length > 0) {
          problems = true;
          c.mismatched += 1;
          for (const d of why) acc.paths[d.field] = (acc.paths[d.field] ?? 0) + 1;
          if (acc.samples.mismatched.length < maxSamples)
            acc.samples.mismatched.push(toMismatch(key, why));
        }
      }
    } else {
      acc.expectedHash = chain(acc.expectedHash, `${key}\u0000${actualHash}`);
    }
    const failures = m.check(doc);
    if (failures.length > 0) {
      problems = true;
      if (failures.some((f) => f.startsWith('schema:'))) c.schemaFailures += 1;
      if (failures.some((f) => !f.startsWith('schema:'))) c.invariantFailures += 1;
      if (acc.samples.checks.length < maxSamples) acc.samples.checks.push({ key, failures });
    }
    if (!problems) c.matched += 1;
  });
}

/** true when up() refuses `doc` with SkippedDocumentError: the backfill leaves it as it is */
function leftAsIs(m: Migration, doc: Doc, ctx: TransformContext): boolean {
  if (m.versionOf(doc) !== m.from) return false;
  try {
    m.up(doc, ctx);
    return false;
  } catch (err) {
    return isSkippedDocument(err);
  }
}

/** A partition of one side: the side's own range, tagged (JSON, like every range). */
export type SideRange = Range & { side: string };

/** The ranges of one side, tagged with it (ids stay unique across the sides). */
export function sideRanges(side: string, ranges: readonly Range[]): SideRange[] {
  return ranges.map((r) => ({ ...r, id: `${side}:${r.id}`, side }));
}

export class InPlaceVerifyJob implements Job {
  readonly pass = JobPass.verify;
  readonly migration: string;
  readonly key: string;
  readonly #m: Migration;
  readonly #store: Store;
  readonly #source: Collection;
  readonly #journal: Journal;
  readonly #journalColl: Collection;
  readonly #maxSamples: number;
  /** a canary's verify: the journal's keys only */
  readonly #canary: boolean;
  #totals = { documents: 0, journal: 0 };
  /** what this worker's open partitions found so far (ahead of their checkpoints) */
  readonly #live = new Map<string, VerifyAcc>();

  constructor(ctx: EngineContext, m: Migration, maxSamples: number, canary = false) {
    this.#m = m;
    this.migration = m.id;
    this.#canary = canary;
    this.key = canary ? `${m.id}#verify-canary` : `${m.id}#verify`;
    this.#store = ctx.store;
    this.#source = ctx.store.collection(m.collection);
    this.#journal = new Journal(ctx.stateStore, m.id);
    this.#journalColl = ctx.stateStore.collection(journalCollectionName(m.id));
    this.#maxSamples = maxSamples;
  }

  async plan(n: number): Promise<{ ranges: Range[] }> {
    if (this.#canary) return { ranges: sideRanges('journal', await this.#journalColl.split(n)) };
    const [data, journal] = await Promise.all([this.#source.split(n), this.#journalColl.split(n)]);
    return { ranges: [...sideRanges('data', data), ...sideRanges('journal', journal)] };
  }

  /** Documents plus journal entries (the runner's total); each side is kept for `sides`. */
  async total(): Promise<number> {
    const [documents, journal] = await Promise.all([
      this.#source.count(),
      this.#journalColl.count(),
    ]);
    this.#totals = { documents, journal };
    return this.#canary ? journal : documents + journal;
  }

  async progressExtra(
    states: readonly PartitionState[],
  ): Promise<{ sides: VerifySides; verifyMismatches: number }> {
    // the threshold metric verifyMismatches: documents that are not what the migration should
    // have produced (mismatched, missing, still at the old version), all partitions so far
    const verifyMismatches = states.reduce((n, s) => {
      const c = (this.#live.get(s.id) ?? (s.data as VerifyAcc | undefined))?.counts;
      return n + (c === undefined ? 0 : c.mismatched + c.missing + c.oldVersion);
    }, 0);
    const done = (which: string) =>
      states
        .filter((s) => (s.range as SideRange).side === which)
        .reduce((n, s) => n + s.counts.scanned, 0);
    const [documents, journal] = [done('data'), done('journal')];
    return {
      sides: {
        documents: { done: documents, total: Math.max(documents, this.#totals.documents) },
        journal: { done: journal, total: Math.max(journal, this.#totals.journal) },
      },
      verifyMismatches,
    };
  }

  async scan(range: Range, cursor: string | null, limit: number): Promise<ScanPage> {
    const c = (range as SideRange).side === 'journal' ? this.#journalColl : this.#source;
    return withUnreadable(await c.scan({ range, cursor, limit }));
  }

  open(partition: PartitionState): PartitionWork {
    const acc = (partition.data as VerifyAcc | undefined) ?? emptyAcc();
    this.#live.set(partition.id, acc);
    const journalSide = (partition.range as SideRange).side === 'journal';
    return {
      batch: async (all, io) => {
        // a stored document that cannot be read is a failure of the report, named by its key
        const { readable: items, unreadable } = splitUnreadable(all);
        for (const u of unreadable) {
          acc.counts.unreadable = (acc.counts.unreadable ?? 0) + 1;
          if (acc.samples.checks.length < this.#maxSamples)
            acc.samples.checks.push({ key: u.key, failures: [`cannot be read: ${u.reason}`] });
        }
        if (journalSide && this.#canary) await this.#canaryDocuments(items, acc, io);
        else if (journalSide) await this.#missing(items, acc, io);
        else {
          const entries =
            items.length > 0
              ? await io.retrying('journal', () => this.#journal.get(items.map((s) => s.key)))
              : [];
          // the page's lookups: one getMany per looked-up collection (engine/lookups.ts)
          const contexts = await verifyContexts(this.#store, this.#m, entries, items, io.retrying);
          checkDocuments(this.#m, entries, acc, items, this.#maxSamples, contexts);
        }
        return {};
      },
      data: async () => acc as unknown as Record<string, unknown>,
    };
  }

  /**
   * A canary's documents, from a page of its journal: each read by key and checked with its entry
   * (gone: missing; not readable: named in the checks).
   */
  async #canaryDocuments(
    entries: readonly StoredDoc[],
    acc: VerifyAcc,
    io: BatchIo,
  ): Promise<void> {
    if (entries.length === 0) return;
    const keys = entries.map((e) => e.key);
    const docs = await readEach(this.#source, keys, io, (key, reason) => {
      acc.counts.unreadable = (acc.counts.unreadable ?? 0) + 1;
      if (acc.samples.checks.length < this.#maxSamples)
        acc.samples.checks.push({ key, failures: [`cannot be read: ${reason}`] });
    });
    const found: StoredDoc[] = [];
    const theirs: JournalEntry[] = [];
    entries.forEach((e, i) => {
      const d = docs[i];
      if (d === undefined) return; // unreadable: counted above
      if (d === null) {
        acc.counts.missing += 1;
        if (acc.samples.missing.length < this.#maxSamples) acc.samples.missing.push(e.key);
        return;
      }
      found.push(d);
      theirs.push(e.doc as unknown as JournalEntry);
    });
    checkDocuments(this.#m, theirs, acc, found, this.#maxSamples);
  }

  /** The other direction: journalled documents that are gone. */
  async #missing(entries: readonly StoredDoc[], acc: VerifyAcc, io: BatchIo): Promise<void> {
    if (entries.length === 0) return;
    const docs = await io.retrying('getMany', () =>
      this.#source.getMany(entries.map((e) => e.key)),
    );
    entries.forEach((e, i) => {
      if (docs[i] !== null) return;
      acc.counts.missing += 1;
      if (acc.samples.missing.length < this.#maxSamples) acc.samples.missing.push(e.key);
    });
    if (this.#m.fanOut !== undefined)
      await checkEmitted(
        this.#store,
        this.#m,
        entries.map((e) => e.doc as unknown as JournalEntry),
        docs,
        acc,
        this.#maxSamples,
        io,
      );
  }
}
