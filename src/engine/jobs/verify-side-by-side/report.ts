/**
 * The report of a side-by-side verify (verify-side-by-side.ts): the partitions of the summary
 * pass added up per side (`sumSides`), what a run comes to turned into the report (`build`), and
 * the report recorded like an in-place verify's (`record`).
 */
import type { Migration } from '../../../migration/migration.js';
import type { PartitionState } from '../../../state/partitions.js';
import type { EngineContext } from '../../context.js';
import type { Stage } from '../../stages.js';
import { recordVerify, type VerifyReport } from '../../verify.js';
import type { SideRange } from '../verify-in-place.js';
import { BucketSummary } from './buckets.js';
import {
  mergeChecks,
  mergeUnreadable,
  type Comparer,
  type Findings,
  type TargetChecks,
  type Unreadable,
} from './compare.js';
import type { SummaryData } from './jobs.js';

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
  /**
   * a split: each target's own report, in the order of `targets`. The counts above are their
   * sums, `paths` and the samples are named by target (`coupons: /code`, `coupons: d7`), and
   * `target` is the first target.
   */
  targets?: SideBySideVerifyReport[];
  /**
   * a merge, full verify: secondary documents without a primary of the same key (they yield no
   * target document: not drift; verify-merge-orphans.ts)
   */
  orphans?: number;
  samples: VerifyReport['samples'] & {
    extra: string[];
    transformErrors: { key: string; error: string }[];
    /** a merge: `<collection>/<key>` of the orphans, capped */
    orphans?: string[];
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

/** What both modes come to before the report. */
export interface Outcome {
  mode: VerifyReport['mode'];
  sourceDocs: number;
  targetDocs: number;
  findings: Findings;
  checks: TargetChecks;
  /** documents of either side that cannot be read */
  unreadable: Unreadable;
  /** full mode */
  buckets?: { expected: BucketSummary; actual: BucketSummary; divergent: number[] };
  /** sample mode: the keys compared */
  compared?: number;
}

export type Where = Pick<SideBySideVerifyReport, 'stage' | 'source' | 'target'>;

/** The summary partitions of each side, added up. */
export function sumSides(states: readonly PartitionState[], B: number) {
  const expected = new BucketSummary(B);
  const actual = new BucketSummary(B);
  const checks: TargetChecks[] = [];
  const unreadable: Unreadable[] = [];
  let sourceDocs = 0;
  let targetDocs = 0;
  for (const s of states) {
    const d = s.data as SummaryData | undefined;
    if (d === undefined) continue;
    if (d.unreadable !== undefined) unreadable.push(d.unreadable);
    const isTarget = (s.range as SideRange).side === 'target';
    if (d.summary !== undefined)
      (isTarget ? actual : expected).merge(BucketSummary.fromJSON(d.summary));
    if (isTarget) {
      targetDocs += d.docs;
      if (d.checks !== undefined) checks.push(d.checks);
    } else sourceDocs += d.docs;
  }
  return {
    expected,
    actual,
    sourceDocs,
    targetDocs,
    checks: mergeChecks(checks, Infinity),
    unreadable: mergeUnreadable(unreadable, Infinity),
  };
}

export function build(c: Comparer, at: Where, started: number, r: Outcome): SideBySideVerifyReport {
  const f = r.findings;
  const ch = r.checks;
  const max = c.o.maxSamples;
  // full: every source document was compared; target-only keys add to what was compared
  const compared = r.compared ?? r.sourceDocs + f.extra;
  const problems = f.mismatched + f.missing + f.extra + f.transformErrors;
  const bad = r.unreadable;
  const ok = problems + ch.oldVersion + ch.invariantFailures + ch.schemaFailures + bad.count === 0;
  const cap = <T>(xs: T[]) => xs.slice(0, max);
  let ranges: SideBySideVerifyReport['ranges'] = {
    total: 0,
    divergent: [],
    divergentTotal: 0,
    drilled: 0,
  };
  if (r.buckets !== undefined) {
    const { expected, actual, divergent } = r.buckets;
    const list = divergent
      .map((b) => ({
        id: `bucket ${b}`,
        mismatched: f.perBucket[String(b)] ?? 0,
        expectedHash: expected.digest(b),
        actualHash: actual.digest(b),
        expectedCount: expected.counts[b]!,
        actualCount: actual.counts[b]!,
      }))
      .sort((a, b) => b.mismatched - a.mismatched);
    ranges = {
      total: expected.size,
      divergent: list.slice(0, max),
      divergentTotal: divergent.length,
      drilled: f.drilled,
    };
  }
  return {
    migration: c.m.id,
    collection: c.m.collection,
    kind: 'side-by-side',
    ...at,
    mode: r.mode,
    ok,
    compared,
    matched: Math.max(0, compared - problems),
    mismatched: f.mismatched,
    missing: f.missing,
    extra: f.extra,
    transformErrors: f.transformErrors,
    settled: f.settled,
    oldVersion: ch.oldVersion,
    // side by side a source left as it is (onInvalid 'skip') agrees with an absent target: matched
    leftAsIs: 0,
    newer: 0,
    invariantFailures: ch.invariantFailures,
    schemaFailures: ch.schemaFailures,
    ...(bad.count > 0 ? { unreadable: bad.count } : {}),
    sourceDocs: r.sourceDocs,
    targetDocs: r.targetDocs,
    paths: f.paths,
    samples: {
      mismatched: cap(f.samples.mismatched),
      missing: cap(f.samples.missing),
      oldVersion: cap(ch.samples.oldVersion),
      checks: cap([...bad.samples, ...ch.samples.checks]),
      extra: cap(f.samples.extra),
      transformErrors: cap(f.samples.transformErrors),
    },
    ranges,
    elapsedSeconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

/**
 * As in place (recordVerify): the side-by-side counts join `lastVerify`, the bucket summary the
 * audit entry. The side-by-side stage is not touched.
 */
export function record(
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
      ...(r.orphans !== undefined ? { orphans: r.orphans } : {}),
      target: r.target,
    },
    audit: {
      buckets: { total: ranges.total, divergent: ranges.divergentTotal, drilled: ranges.drilled },
    },
  });
}
