/**
 * verify for side-by-side migrations: prove that the target holds `up(source)` for every key and
 * nothing else, when the two may live on different stores whose key orders and partitionings
 * have nothing in common (SQLite key ranges, Redis hash partitions, DynamoDB segments).
 *
 * How (full run):
 * 1. Summary pass: each side is scanned once, both at once (and partition-parallel with
 *    `partitions` > 1, for stores whose scans are latency-bound), in bounded pages. Every key
 *    falls in a bucket, `bucketOf(key, B)`, that both sides compute from the key alone. Per
 *    bucket and side: a count and an order-independent digest, the lane-wise sum (mod 2^32, four
 *    lanes) of sha1(key, contentHash(doc)); the source side hashes `expected(doc)` (up(doc), the
 *    document as is when it is already at `to`, a marker that matches nothing when up() throws),
 *    the target side the stored document. A sum, not a xor: a document read twice does not
 *    cancel out. Memory: B buckets, never the documents.
 * 2. Buckets whose counts or digests differ are drilled into, and only they: each side is scanned
 *    again and the documents of those buckets are looked up on the other side (getMany, in
 *    pages), which names every key that is missing in the target, extra in the target,
 *    different (with the JSON Pointer paths, core/diff.ts) or whose up() fails. Memory stays
 *    bounded however many buckets differ.
 * 3. The application keeps writing during verify, and a dual write reaches the two sides one
 *    after the other: every finding is re-read on both sides up to `rechecks` times (with a short,
 *    doubling delay) and dropped as `settled` as soon as the two sides agree. Only differences
 *    that persist are reported.
 * The target documents are also checked on their own: at the target version, invariants, schema.
 *
 * `sample`: a uniform sample of n keys of each side, compared the same way (fresh reads of both
 * sides, then rechecks); no buckets. Nothing here is resumable: a killed verify starts over (each
 * side is read once or twice, and the data moves meanwhile anyway).
 *
 * The result is recorded like an in-place verify's: `lastVerify` in the catalog entry (a clean
 * full run moves a backfilled migration to verified, drift moves a verified one back), an audit
 * entry either way. The stage is never changed.
 */
import { hash as oneShotHash } from 'node:crypto';
import { InputError } from '../core/errors.js';
import { diff, type DiffEntry } from '../core/diff.js';
import { contentHash, type Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Collection, Key, Range, Store, StoredDoc } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import type { EngineContext } from './context.js';
import { ProgressMeter } from './progress.js';
import { sampleCollection } from './sample.js';
import { sideBySideState, type Stage } from './stages.js';
import { sleep } from './throttle.js';
import {
  DEFAULT_VERIFY_MAX_SAMPLES,
  recordVerify,
  type Mismatch,
  type VerifyOptions,
  type VerifyReport,
} from './verify.js';

export const DEFAULT_RECHECKS = 3;
export const DEFAULT_RECHECK_DELAY_MS = 200;
/** documents per bucket the default bucket count aims at */
const DOCS_PER_BUCKET = 64;
const MAX_BUCKETS = 65_536;
/**
 * partitions per side: one, the two sides read at once. The work is parsing and hashing on this
 * one thread, and a Redis hash partition SCANs the whole keyspace (4 partitions ran at about half
 * the speed of 1 on 200k documents); more helps where a scan is latency-bound (DynamoDB segments)
 */
const DEFAULT_PARTITIONS = 1;
const DEFAULT_CONCURRENCY = 4;
const BATCH = 500;
/** findings held before they are rechecked and folded into the counts (bounds memory) */
const RECHECK_GROUP = 10_000;

export interface SideBySideVerifyOptions extends VerifyOptions {
  /** how many times a difference is re-read on both sides before it is reported (default 3) */
  rechecks?: number;
  /** the delay before the first recheck, ms, doubled for each next one (default 200) */
  recheckDelayMs?: number;
  /** partitions per side, from each store's split() (default 1: the two sides read at once) */
  partitions?: number;
  /** buckets of the summary pass (default: about 64 documents each, at most 65,536) */
  buckets?: number;
  /** partitions scanned at once, both sides together (default 4); see `partitions` */
  concurrency?: number;
  /** top-level fields left out of the comparison (fields each side stamps on its own) */
  ignore?: readonly string[];
  /** the directory a relative `target.store` path is resolved against (default: cwd) */
  baseDir?: string;
}

export interface SideBySideVerifyReport extends VerifyReport {
  kind: 'side-by-side';
  /** the stage when verify started (from complete on, the source is no longer written) */
  stage: Stage;
  source: { store: string; collection: string };
  target: { store: string; collection: string };
  /** documents read on each side (summary pass, or the samples) */
  sourceDocs: number;
  targetDocs: number;
  /** source documents whose up() failed (the target cannot hold up(source) for them) */
  transformErrors: number;
  /** differences seen once that went away on a recheck (writes landing during verify) */
  settled: number;
  samples: VerifyReport['samples'] & {
    extra: string[];
    transformErrors: { key: string; error: string }[];
  };
  ranges: {
    /** buckets (0 in sample mode) */
    total: number;
    /** buckets whose summaries differed, with the persistent findings in each (capped) */
    divergent: {
      id: string;
      mismatched: number;
      expectedHash: string;
      actualHash: string;
      expectedCount: number;
      actualCount: number;
    }[];
    divergentTotal: number;
    /** documents looked up on the other side while drilling into the divergent buckets */
    drilled: number;
  };
}

/**
 * The bucket of a key, from the key alone (FNV-1a over UTF-16 code units, then murmur3's
 * finalizer), so any store computes the same one whatever its key order or partitioning.
 */
export function bucketOf(key: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % buckets;
}

/** Per bucket: a count and a four-lane sum of per-document hashes. Order-independent. */
export class BucketSummary {
  readonly counts: Uint32Array;
  readonly lanes: Uint32Array;

  constructor(readonly size: number) {
    this.counts = new Uint32Array(size);
    this.lanes = new Uint32Array(size * 4);
  }

  /** Add one document, given its key and the hash of its content (or any fixed marker). */
  add(key: Key, hash: string): number {
    const b = bucketOf(key, this.size);
    const d = oneShotHash('sha1', `${key.length}:${key}\u0000${hash}`, 'buffer');
    this.counts[b] = (this.counts[b]! + 1) >>> 0;
    for (let i = 0; i < 4; i++)
      this.lanes[b * 4 + i] = (this.lanes[b * 4 + i]! + d.readUInt32LE(i * 4)) >>> 0;
    return b;
  }

  digest(b: number): string {
    return Buffer.from(this.lanes.buffer, this.lanes.byteOffset + b * 16, 16).toString('hex');
  }

  /** The buckets whose count or digest differ from `other`'s. */
  divergent(other: BucketSummary): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.size; b++) {
      if (this.counts[b] !== other.counts[b]) {
        out.push(b);
        continue;
      }
      for (let i = 0; i < 4; i++) {
        if (this.lanes[b * 4 + i] !== other.lanes[b * 4 + i]) {
          out.push(b);
          break;
        }
      }
    }
    return out;
  }
}

type Finding =
  | { kind: 'missing' }
  | { kind: 'extra' }
  | { kind: 'mismatched'; diffs: DiffEntry[] }
  | { kind: 'transform'; error: string };

const UP_FAILED = '\u0001up failed';

interface Counts {
  compared: number;
  mismatched: number;
  missing: number;
  extra: number;
  transformErrors: number;
  settled: number;
  oldVersion: number;
  invariantFailures: number;
  schemaFailures: number;
}

export async function verifySideBySide(
  ctx: EngineContext,
  migration: Migration,
  options: SideBySideVerifyOptions = {},
): Promise<SideBySideVerifyReport> {
  const target = migration.target;
  if (target === undefined)
    throw new InputError(`${migration.id} has no target: it is verified in place (verify())`, {
      field: 'target',
    });
  for (const [name, v] of [
    ['rechecks', options.rechecks ?? 0],
    ['recheckDelayMs', options.recheckDelayMs ?? 0],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new InputError(`${name} must be a non-negative integer, got ${v}`, { field: name });
  }
  for (const [name, v] of [
    ['buckets', options.buckets ?? 1],
    ['concurrency', options.concurrency ?? 1],
    ['partitions', options.partitions ?? 1],
    ['sample', options.sample ?? 1],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new InputError(`${name} must be a positive integer, got ${v}`, { field: name });
  }
  const { stage } = sideBySideState(await ctx.catalog.get(migration.id));
  const targetStore: Store | undefined =
    target.store !== undefined
      ? await openStore(
          target.store,
          options.baseDir !== undefined ? { baseDir: options.baseDir } : {},
        )
      : undefined;
  try {
    const run = new SideBySideVerify(
      migration,
      ctx.store.collection(migration.collection),
      (targetStore ?? ctx.store).collection(target.collection),
      options,
    );
    const report = await run.run({
      stage,
      store: ctx.store.url,
      targetStore: (targetStore ?? ctx.store).url,
    });
    await record(ctx, migration, report);
    return report;
  } finally {
    await targetStore?.close();
  }
}

class SideBySideVerify {
  readonly #m: Migration;
  readonly #source: Collection;
  readonly #target: Collection;
  readonly #o: SideBySideVerifyOptions;
  readonly #maxSamples: number;
  readonly #ignore: readonly string[];
  readonly #started = Date.now();
  readonly #c: Counts = {
    compared: 0,
    mismatched: 0,
    missing: 0,
    extra: 0,
    transformErrors: 0,
    settled: 0,
    oldVersion: 0,
    invariantFailures: 0,
    schemaFailures: 0,
  };
  readonly #paths: Record<string, number> = {};
  readonly #samples: SideBySideVerifyReport['samples'] = {
    mismatched: [],
    missing: [],
    oldVersion: [],
    checks: [],
    extra: [],
    transformErrors: [],
  };
  /** findings waiting for their rechecks */
  #pending = new Map<Key, Finding>();
  /** persistent findings per bucket (full mode) */
  readonly #perBucket = new Map<number, number>();
  #buckets = 0;
  #sourceDocs = 0;
  #targetDocs = 0;
  #drilled = 0;
  #meter: ProgressMeter | undefined;
  #done = 0;

  constructor(m: Migration, source: Collection, target: Collection, o: SideBySideVerifyOptions) {
    this.#m = m;
    this.#source = source;
    this.#target = target;
    this.#o = o;
    this.#maxSamples = o.maxSamples ?? DEFAULT_VERIFY_MAX_SAMPLES;
    this.#ignore = o.ignore ?? [];
  }

  async run(at: {
    stage: Stage;
    store: string;
    targetStore: string;
  }): Promise<SideBySideVerifyReport> {
    let ranges: SideBySideVerifyReport['ranges'] = {
      total: 0,
      divergent: [],
      divergentTotal: 0,
      drilled: 0,
    };
    let mode: SideBySideVerifyReport['mode'];
    if (this.#o.sample !== undefined) {
      mode = 'sample';
      await this.#samplePass(this.#o.sample);
    } else {
      mode = 'full';
      ranges = await this.#fullPass();
    }
    const c = this.#c;
    const findings = c.mismatched + c.missing + c.extra + c.transformErrors;
    const ok = findings + c.oldVersion + c.invariantFailures + c.schemaFailures === 0;
    const cap = <T>(xs: T[]) => xs.slice(0, this.#maxSamples);
    return {
      migration: this.#m.id,
      collection: this.#m.collection,
      kind: 'side-by-side',
      stage: at.stage,
      source: { store: at.store, collection: this.#m.collection },
      target: { store: at.targetStore, collection: this.#m.target!.collection },
      mode,
      ok,
      compared: c.compared,
      matched: Math.max(0, c.compared - findings),
      mismatched: c.mismatched,
      missing: c.missing,
      extra: c.extra,
      transformErrors: c.transformErrors,
      settled: c.settled,
      oldVersion: c.oldVersion,
      newer: 0,
      invariantFailures: c.invariantFailures,
      schemaFailures: c.schemaFailures,
      sourceDocs: this.#sourceDocs,
      targetDocs: this.#targetDocs,
      paths: this.#paths,
      samples: {
        mismatched: cap(this.#samples.mismatched),
        missing: cap(this.#samples.missing),
        oldVersion: cap(this.#samples.oldVersion),
        checks: cap(this.#samples.checks),
        extra: cap(this.#samples.extra),
        transformErrors: cap(this.#samples.transformErrors),
      },
      ranges,
      elapsedSeconds: Math.round((Date.now() - this.#started) / 100) / 10,
    };
  }

  // ---- full: summaries, then drill into the divergent buckets -------------------------------

  async #fullPass(): Promise<SideBySideVerifyReport['ranges']> {
    // sized by the source alone (counting a Redis or DynamoDB target costs a scan of its own);
    // the target should hold as many, and the progress total grows if it holds more
    const sourceCount = await this.#source.count();
    const B =
      this.#o.buckets ??
      Math.min(MAX_BUCKETS, Math.max(1, Math.ceil(sourceCount / DOCS_PER_BUCKET)));
    this.#buckets = B;
    this.#meter = new ProgressMeter(2 * sourceCount);
    const expected = new BucketSummary(B);
    const actual = new BucketSummary(B);
    await this.#scanBoth(
      (items) => {
        this.#sourceDocs += items.length;
        for (const { key, doc } of items) expected.add(key, this.#expectedHash(doc));
      },
      (items) => {
        this.#targetDocs += items.length;
        for (const { key, doc } of items) {
          actual.add(key, contentHash(this.#strip(doc)));
          this.#checkTarget(key, doc);
        }
      },
    );
    const divergent = expected.divergent(actual);
    if (divergent.length > 0) {
      const wanted = new Set(divergent);
      const inWanted = (items: readonly StoredDoc[]) =>
        items.filter((s) => wanted.has(bucketOf(s.key, B)));
      this.#meter.setTotal(2 * (this.#sourceDocs + this.#targetDocs));
      await this.#scanBoth(
        async (items) => {
          const mine = inWanted(items);
          if (mine.length === 0) return;
          this.#drilled += mine.length;
          const there = await this.#target.getMany(mine.map((s) => s.key));
          mine.forEach((s, i) => this.#consider(s.key, s.doc, there[i]?.doc ?? null));
          await this.#flush(false);
        },
        async (items) => {
          const mine = inWanted(items);
          if (mine.length === 0) return;
          this.#drilled += mine.length;
          const there = await this.#source.getMany(mine.map((s) => s.key));
          // keys the source has were compared from the source side
          mine.forEach((s, i) => {
            if (there[i] === null) this.#consider(s.key, null, s.doc);
          });
          await this.#flush(false);
        },
      );
      await this.#flush(true);
    }
    // every source document was compared; target-only keys add to what was compared
    this.#c.compared = this.#sourceDocs + this.#c.extra;
    const list = divergent
      .map((b) => ({
        id: `bucket ${b}`,
        mismatched: this.#perBucket.get(b) ?? 0,
        expectedHash: expected.digest(b),
        actualHash: actual.digest(b),
        expectedCount: expected.counts[b]!,
        actualCount: actual.counts[b]!,
      }))
      .sort((a, b) => b.mismatched - a.mismatched);
    return {
      total: B,
      divergent: list.slice(0, this.#maxSamples),
      divergentTotal: divergent.length,
      drilled: this.#drilled,
    };
  }

  /**
   * Scan every partition of both sides, `concurrency` partitions at a time, in pages of BATCH;
   * each page goes to its side's handler before the next page of that partition is read.
   */
  async #scanBoth(
    onSource: (items: readonly StoredDoc[]) => void | Promise<void>,
    onTarget: (items: readonly StoredDoc[]) => void | Promise<void>,
  ): Promise<void> {
    const n = this.#o.partitions ?? DEFAULT_PARTITIONS;
    const [sourceRanges, targetRanges] = await Promise.all([
      this.#source.split(n),
      this.#target.split(n),
    ]);
    const tasks: { c: Collection; range: Range; on: typeof onSource }[] = [
      ...sourceRanges.map((range) => ({ c: this.#source, range, on: onSource })),
      ...targetRanges.map((range) => ({ c: this.#target, range, on: onTarget })),
    ];
    let next = 0;
    const lane = async () => {
      for (let t = tasks[next++]; t !== undefined; t = tasks[next++]) {
        let cursor: string | null = null;
        do {
          this.#o.signal?.throwIfAborted();
          const page = await t.c.scan({ range: t.range, cursor, limit: BATCH });
          await t.on(page.items);
          this.#done += page.items.length;
          if (this.#meter !== undefined) this.#o.onProgress?.(this.#meter.snapshot(this.#done));
          cursor = page.cursor;
        } while (cursor !== null);
      }
    };
    const lanes = Math.min(tasks.length, this.#o.concurrency ?? DEFAULT_CONCURRENCY);
    await Promise.all(Array.from({ length: lanes }, lane));
  }

  // ---- sample -------------------------------------------------------------------------------

  async #samplePass(size: number): Promise<void> {
    const seed = this.#o.seed ?? Date.now();
    const common = { size, ...(this.#o.signal ? { signal: this.#o.signal } : {}) };
    const [fromSource, fromTarget] = await Promise.all([
      sampleCollection(this.#source, { ...common, seed }),
      sampleCollection(this.#target, { ...common, seed: seed + 1 }),
    ]);
    this.#sourceDocs = fromSource.sample.length;
    this.#targetDocs = fromTarget.sample.length;
    const keys = [...new Set([...fromSource.sample, ...fromTarget.sample].map((s) => s.key))];
    this.#c.compared = keys.length;
    for (let i = 0; i < keys.length; i += BATCH) {
      this.#o.signal?.throwIfAborted();
      const chunk = keys.slice(i, i + BATCH);
      const [here, there] = await Promise.all([
        this.#source.getMany(chunk),
        this.#target.getMany(chunk),
      ]);
      chunk.forEach((key, j) => {
        const t = there[j]?.doc ?? null;
        if (t !== null) this.#checkTarget(key, t);
        this.#consider(key, here[j]?.doc ?? null, t);
      });
      await this.#flush(false);
    }
    await this.#flush(true);
  }

  // ---- comparing one key ----------------------------------------------------------------------

  #strip(doc: Doc): Doc {
    if (this.#ignore.length === 0) return doc;
    const out = { ...doc };
    for (const f of this.#ignore) delete out[f];
    return out;
  }

  /** What the target should hold for a source document; an Error when up() refuses it. */
  #expected(doc: Doc): Doc | Error {
    if (this.#m.isMigrated(doc)) return doc; // already in the new shape: copied as is
    try {
      return this.#m.up(doc);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  #expectedHash(doc: Doc): string {
    const e = this.#expected(doc);
    return e instanceof Error ? UP_FAILED : contentHash(this.#strip(e));
  }

  /** null when the two sides agree for this key. */
  #classify(source: Doc | null, target: Doc | null): Finding | null {
    if (source === null) return target === null ? null : { kind: 'extra' };
    const e = this.#expected(source);
    if (e instanceof Error) return { kind: 'transform', error: e.message };
    if (target === null) return { kind: 'missing' };
    const expected = this.#strip(e);
    const actual = this.#strip(target);
    if (contentHash(expected) === contentHash(actual)) return null;
    const diffs = diff(expected, actual, { limit: 50 });
    return diffs.length === 0 ? null : { kind: 'mismatched', diffs };
  }

  #consider(key: Key, source: Doc | null, target: Doc | null): void {
    const f = this.#classify(source, target);
    if (f !== null) this.#pending.set(key, f);
  }

  /** The target document on its own: at the target version, invariants, schema. */
  #checkTarget(key: Key, doc: Doc): void {
    const c = this.#c;
    if (!this.#m.isMigrated(doc)) {
      c.oldVersion += 1;
      if (this.#samples.oldVersion.length < this.#maxSamples)
        this.#samples.oldVersion.push({ key, version: this.#m.versionOf(doc) });
      return;
    }
    const failures = this.#m.check(doc);
    if (failures.length === 0) return;
    if (failures.some((f) => f.startsWith('schema:'))) c.schemaFailures += 1;
    if (failures.some((f) => !f.startsWith('schema:'))) c.invariantFailures += 1;
    if (this.#samples.checks.length < this.#maxSamples)
      this.#samples.checks.push({ key, failures });
  }

  /**
   * Recheck the pending findings (all of them when `all`, else once RECHECK_GROUP have gathered):
   * re-read both sides, up to `rechecks` times with a doubling delay; a key whose sides agree on
   * any read is settled; what is left is persistent and counted.
   */
  async #flush(all: boolean): Promise<void> {
    if (this.#pending.size === 0 || (!all && this.#pending.size < RECHECK_GROUP)) return;
    const pending = this.#pending;
    this.#pending = new Map();
    const rechecks = this.#o.rechecks ?? DEFAULT_RECHECKS;
    const delay = this.#o.recheckDelayMs ?? DEFAULT_RECHECK_DELAY_MS;
    for (let round = 0; round < rechecks && pending.size > 0; round++) {
      await sleep(delay * 2 ** round, this.#o.signal);
      this.#o.signal?.throwIfAborted();
      const keys = [...pending.keys()];
      for (let i = 0; i < keys.length; i += BATCH) {
        const chunk = keys.slice(i, i + BATCH);
        const [here, there] = await Promise.all([
          this.#source.getMany(chunk),
          this.#target.getMany(chunk),
        ]);
        chunk.forEach((key, j) => {
          const f = this.#classify(here[j]?.doc ?? null, there[j]?.doc ?? null);
          if (f === null) {
            pending.delete(key);
            this.#c.settled += 1;
          } else pending.set(key, f);
        });
      }
    }
    for (const [key, f] of pending) this.#fold(key, f);
  }

  #fold(key: Key, f: Finding): void {
    const c = this.#c;
    const s = this.#samples;
    const room = (xs: unknown[]) => xs.length < this.#maxSamples;
    if (this.#buckets > 0) {
      const b = bucketOf(key, this.#buckets);
      this.#perBucket.set(b, (this.#perBucket.get(b) ?? 0) + 1);
    }
    switch (f.kind) {
      case 'missing':
        c.missing += 1;
        if (room(s.missing)) s.missing.push(key);
        return;
      case 'extra':
        c.extra += 1;
        if (room(s.extra)) s.extra.push(key);
        return;
      case 'transform':
        c.transformErrors += 1;
        if (room(s.transformErrors)) s.transformErrors.push({ key, error: f.error });
        return;
      case 'mismatched': {
        c.mismatched += 1;
        for (const d of f.diffs) this.#paths[d.field] = (this.#paths[d.field] ?? 0) + 1;
        if (room(s.mismatched)) s.mismatched.push({ key, diffs: f.diffs.slice(0, 20).map(toDiff) });
        return;
      }
    }
  }
}

function toDiff(d: DiffEntry): Mismatch['diffs'][number] {
  return {
    path: d.path,
    field: d.field,
    ...(d.before !== undefined ? { expected: d.before } : {}),
    ...(d.after !== undefined ? { actual: d.after } : {}),
  };
}

/**
 * As in place (recordVerify): the side-by-side counts join `lastVerify`, the bucket summary the
 * audit entry. The side-by-side stage is not touched.
 */
function record(
  ctx: EngineContext,
  migration: Migration,
  r: SideBySideVerifyReport,
): Promise<void> {
  const { ranges } = r;
  return recordVerify(ctx, migration, r, {
    lastVerify: {
      kind: r.kind,
      stage: r.stage,
      extra: r.extra,
      transformErrors: r.transformErrors,
      settled: r.settled,
      target: r.target,
    },
    audit: {
      buckets: { total: ranges.total, divergent: ranges.divergentTotal, drilled: ranges.drilled },
    },
  });
}
