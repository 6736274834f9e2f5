/**
 * Comparing one key across the two sides of a side-by-side migration, and what the comparisons
 * add up to.
 *
 * Rules:
 * - the target should hold `expected(source)`: up(source), the document as is when it is already
 *   at `to`, and nothing when up() throws (a `transform` finding); top-level `ignore` fields are
 *   left out of both sides;
 * - the application keeps writing during verify, and a dual write reaches the two sides one after
 *   the other: every finding is re-read on both sides up to `rechecks` times (with a short,
 *   doubling delay) and dropped as `settled` as soon as the two sides agree; only differences that
 *   persist are counted (`fold`);
 * - with lookups, expected(source) is up() with the looked-up documents as read now, in one
 *   getMany per page and looked-up collection (`contexts`, engine/lookups.ts); a looked-up
 *   document changed since the copy makes the target differ (a `mismatched` finding naming the
 *   fields): side by side there is no journal to tell it from drift;
 * - the target documents are also checked on their own: at the target version, invariants,
 *   schema (`checkTarget`).
 * - with a key mapping (`target.key`) the target is read through mapped-target.ts, so source key
 *   `k` is compared with target key `up(k)`; samples name both (`USER#1 -> U#1`), and a target
 *   key no source key maps to is an extra named as the target's key.
 * - a stored document that cannot be read (not JSON, a JSON array) on either side is reported by
 *   key and side (`Unreadable`, counted by the summary pass or the sample, where it is scanned);
 *   it is never compared, and a finding whose other side cannot be read is dropped here (the
 *   side that holds it reports it).
 * Everything counted here is JSON (`Findings`, `TargetChecks`, `Unreadable`), so a partition
 * checkpoints it.
 */
import { isSkippedDocument } from '../../../migration/operation-error.js';
import { diff, type DiffEntry } from '../../../core/diff.js';
import { contentHash, type Doc } from '../../../core/values.js';
import { NO_LOOKUPS, type TransformContext } from '../../../migration/lookups.js';
import type { Migration } from '../../../migration/migration.js';
import type { Collection, Key, Store, StoredDoc } from '../../../store/contract.js';
import { readLookups } from '../../lookups.js';
import { sleep } from '../../runner/throttle.js';
import { toMismatch, type Mismatch } from '../verify-in-place.js';
import { bucketOf } from './buckets.js';
import { keyLabel, keyProblem, sourceGetMany } from '../../mapped-target.js';
import { readEachWith } from '../unreadable-items.js';

export type Finding =
  | { kind: 'missing' }
  | { kind: 'extra' }
  | { kind: 'mismatched'; diffs: DiffEntry[] }
  | { kind: 'transform'; error: string };

const UP_FAILED = '\u0001up failed';
const PAGE = 500;

/** What the persistent findings add up to (per partition, then merged). */
export interface Findings {
  mismatched: number;
  missing: number;
  extra: number;
  transformErrors: number;
  settled: number;
  /** documents looked up on the other side */
  drilled: number;
  paths: Record<string, number>;
  /** persistent findings per bucket */
  perBucket: Record<string, number>;
  samples: {
    mismatched: Mismatch[];
    missing: string[];
    extra: string[];
    transformErrors: { key: string; error: string }[];
  };
}

/** The target documents checked on their own. */
export interface TargetChecks {
  oldVersion: number;
  invariantFailures: number;
  schemaFailures: number;
  samples: {
    oldVersion: { key: string; version: number }[];
    checks: { key: string; failures: string[] }[];
  };
}

export function emptyFindings(): Findings {
  return {
    mismatched: 0,
    missing: 0,
    extra: 0,
    transformErrors: 0,
    settled: 0,
    drilled: 0,
    paths: {},
    perBucket: {},
    samples: { mismatched: [], missing: [], extra: [], transformErrors: [] },
  };
}

/** Stored documents that cannot be read, on either side. */
export interface Unreadable {
  count: number;
  /** named as verify's checks are: `{ key, failures: ['the source document cannot be read: ...'] }` */
  samples: { key: string; failures: string[] }[];
}

export function emptyUnreadable(): Unreadable {
  return { count: 0, samples: [] };
}

/** Unreadable documents of several partitions, summed (samples capped at `maxSamples`). */
export function mergeUnreadable(list: readonly Unreadable[], maxSamples: number): Unreadable {
  const out = emptyUnreadable();
  for (const u of list) {
    out.count += u.count;
    out.samples.push(...u.samples);
  }
  out.samples.splice(maxSamples);
  return out;
}

export function emptyChecks(): TargetChecks {
  return {
    oldVersion: 0,
    invariantFailures: 0,
    schemaFailures: 0,
    samples: { oldVersion: [], checks: [] },
  };
}

export interface CompareOptions {
  ignore: readonly string[];
  rechecks: number;
  recheckDelayMs: number;
  maxSamples: number;
  signal: AbortSignal | undefined;
}

/** Store calls, retried (the runner's). */
export type Retrying = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export class Comparer {
  constructor(
    readonly m: Migration,
    readonly source: Collection,
    readonly target: Collection,
    readonly o: CompareOptions,
    /** where the migration's lookups are read (the source's store) */
    readonly lookupStore?: Store,
  ) {}

  /** Per source document, its looked-up documents as read now (one getMany per collection). */
  async contexts(
    docs: readonly (Doc | null)[],
    retrying: Retrying,
  ): Promise<TransformContext[] | undefined> {
    if (!this.m.hasLookups || this.lookupStore === undefined || docs.length === 0) return undefined;
    return readLookups(
      this.lookupStore,
      this.m,
      docs.map((d) => d ?? {}),
      retrying,
    );
  }

  strip(doc: Doc): Doc {
    if (this.o.ignore.length === 0) return doc;
    const out = { ...doc };
    for (const f of this.o.ignore) delete out[f];
    return out;
  }

  /** What the target should hold for a source document; an Error when up() refuses it. */
  expected(doc: Doc, ctx: TransformContext = NO_LOOKUPS): Doc | Error {
    if (this.m.isMigrated(doc)) return doc; // already in the new shape: copied as is
    try {
      return this.m.up(doc, ctx);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  expectedHash(doc: Doc, ctx?: TransformContext): string {
    const e = this.expected(doc, ctx);
    return e instanceof Error ? UP_FAILED : contentHash(this.strip(e));
  }

  /**
   * The target documents of these source keys; null for a key the key mapping refuses (it has
   * no target key: `refused` names it as an up() failure).
   */
  async targetGetMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    if (this.m.keyMapping === undefined) return this.target.getMany(keys);
    const ok = keys.filter((k) => this.refused(k) === null);
    const got =
      ok.length === keys.length ? await this.target.getMany(keys) : await this.target.getMany(ok);
    if (ok.length === keys.length) return got;
    let i = 0;
    return keys.map((k) => (this.refused(k) === null ? (got[i++] ?? null) : null));
  }

  /** A source key the key mapping refuses, as a finding (never settles); null when it maps. */
  refused(key: Key): Finding | null {
    const p = keyProblem(this.m, key);
    return p === undefined ? null : { kind: 'transform', error: p.message };
  }

  /** null when the two sides agree for this key. */
  classify(source: Doc | null, target: Doc | null, ctx?: TransformContext): Finding | null {
    if (source === null) return target === null ? null : { kind: 'extra' };
    const e = this.expected(source, ctx);
    // left as it is by onInvalid 'skip': the backfill writes no target document for it
    if (e instanceof Error)
      return isSkippedDocument(e) && target === null
        ? null
        : { kind: 'transform', error: e.message };
    if (target === null) return { kind: 'missing' };
    const expected = this.strip(e);
    const actual = this.strip(target);
    if (contentHash(expected) === contentHash(actual)) return null;
    const diffs = diff(expected, actual, { limit: 50 });
    return diffs.length === 0 ? null : { kind: 'mismatched', diffs };
  }

  /** Count a document of `side` that cannot be read (and name it while there is room). */
  noteUnreadable(u: Unreadable, side: 'source' | 'target', key: Key, reason: string): void {
    u.count += 1;
    if (u.samples.length < this.o.maxSamples)
      u.samples.push({
        key: keyLabel(this.m, key),
        failures: [`the ${side} document cannot be read: ${reason}`],
      });
  }

  /**
   * Both sides of these keys; `undefined` for a document that cannot be read (told to
   * `unreadable`, when given).
   */
  async readBoth(
    keys: readonly Key[],
    retrying: Retrying,
    unreadable?: (side: 'source' | 'target', key: Key, reason: string) => void,
  ): Promise<[(StoredDoc | null | undefined)[], (StoredDoc | null | undefined)[]]> {
    return Promise.all([
      readEachWith(
        (ks) => sourceGetMany(this.source, ks),
        keys,
        retrying,
        (k, why) => unreadable?.('source', k, why),
      ),
      readEachWith(
        (ks) => this.targetGetMany(ks),
        keys,
        retrying,
        (k, why) => unreadable?.('target', k, why),
      ),
    ]);
  }

  /** The target document on its own: at the target version, invariants, schema. */
  checkTarget(key: Key, doc: Doc, c: TargetChecks): void {
    const room = (xs: unknown[]) => xs.length < this.o.maxSamples;
    if (!this.m.isMigrated(doc)) {
      c.oldVersion += 1;
      if (room(c.samples.oldVersion))
        c.samples.oldVersion.push({ key: keyLabel(this.m, key), version: this.m.versionOf(doc) });
      return;
    }
    const failures = this.m.check(doc);
    if (failures.length === 0) return;
    if (failures.some((f) => f.startsWith('schema:'))) c.schemaFailures += 1;
    if (failures.some((f) => !f.startsWith('schema:'))) c.invariantFailures += 1;
    if (room(c.samples.checks)) c.samples.checks.push({ key: keyLabel(this.m, key), failures });
  }

  /**
   * Recheck findings: re-read both sides, up to `rechecks` times with a doubling delay; a key
   * whose sides agree on any read is settled; what is left is persistent and folded into `into`.
   */
  async settle(
    pending: Map<Key, Finding>,
    into: Findings,
    buckets: number,
    retrying: Retrying,
  ): Promise<void> {
    for (let round = 0; round < this.o.rechecks && pending.size > 0; round++) {
      await sleep(this.o.recheckDelayMs * 2 ** round, this.o.signal);
      this.o.signal?.throwIfAborted();
      const keys = [...pending.keys()];
      for (let i = 0; i < keys.length; i += PAGE) {
        const chunk = keys.slice(i, i + PAGE);
        const [here, there] = await this.readBoth(chunk, retrying);
        const contexts = await this.contexts(
          here.map((h) => h?.doc ?? null),
          retrying,
        );
        chunk.forEach((key, j) => {
          // unreadable on one side now: reported where it is scanned, not compared
          if (here[j] === undefined || there[j] === undefined) {
            pending.delete(key);
            return;
          }
          const f =
            (here[j] !== null ? this.refused(key) : null) ??
            this.classify(here[j]?.doc ?? null, there[j]?.doc ?? null, contexts?.[j]);
          if (f === null) {
            pending.delete(key);
            into.settled += 1;
          } else pending.set(key, f);
        });
      }
    }
    for (const [key, f] of pending) this.fold(key, f, into, buckets);
    pending.clear();
  }

  /** Count a persistent finding (and keep it as a sample while there is room). */
  fold(key: Key, f: Finding, into: Findings, buckets: number): void {
    const s = into.samples;
    const label = keyLabel(this.m, key);
    const room = (xs: unknown[]) => xs.length < this.o.maxSamples;
    if (buckets > 0) {
      const b = String(bucketOf(key, buckets));
      into.perBucket[b] = (into.perBucket[b] ?? 0) + 1;
    }
    switch (f.kind) {
      case 'missing':
        into.missing += 1;
        if (room(s.missing)) s.missing.push(label);
        return;
      case 'extra':
        into.extra += 1;
        if (room(s.extra)) s.extra.push(label);
        return;
      case 'transform':
        into.transformErrors += 1;
        if (room(s.transformErrors)) s.transformErrors.push({ key: label, error: f.error });
        return;
      case 'mismatched':
        into.mismatched += 1;
        for (const d of f.diffs) into.paths[d.field] = (into.paths[d.field] ?? 0) + 1;
        if (room(s.mismatched)) s.mismatched.push(toMismatch(label, f.diffs));
        return;
    }
  }
}

/** Findings of several partitions, summed (samples capped at `maxSamples`). */
export function mergeFindings(list: readonly Findings[], maxSamples: number): Findings {
  const out = emptyFindings();
  for (const f of list) {
    for (const k of [
      'mismatched',
      'missing',
      'extra',
      'transformErrors',
      'settled',
      'drilled',
    ] as const)
      out[k] += f[k];
    for (const [p, n] of Object.entries(f.paths)) out.paths[p] = (out.paths[p] ?? 0) + n;
    for (const [b, n] of Object.entries(f.perBucket))
      out.perBucket[b] = (out.perBucket[b] ?? 0) + n;
    for (const k of ['mismatched', 'missing', 'extra', 'transformErrors'] as const)
      (out.samples[k] as unknown[]).push(...f.samples[k]);
  }
  for (const k of ['mismatched', 'missing', 'extra', 'transformErrors'] as const)
    (out.samples[k] as unknown[]).splice(maxSamples);
  return out;
}

/** Target checks of several partitions, summed (samples capped at `maxSamples`). */
export function mergeChecks(list: readonly TargetChecks[], maxSamples: number): TargetChecks {
  const out = emptyChecks();
  for (const c of list) {
    out.oldVersion += c.oldVersion;
    out.invariantFailures += c.invariantFailures;
    out.schemaFailures += c.schemaFailures;
    out.samples.oldVersion.push(...c.samples.oldVersion);
    out.samples.checks.push(...c.samples.checks);
  }
  out.samples.oldVersion.splice(maxSamples);
  out.samples.checks.splice(maxSamples);
  return out;
}
