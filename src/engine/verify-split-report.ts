/**
 * The verify report of a split (`targets`, verify-side-by-side.ts): each target is verified on
 * its own; the whole is their sums, with paths, sample keys and bucket ids named by target
 * (`coupons: code`, `coupons: d000123`), `target` the first target's, and every target's own
 * report in `targets`. `ok` only when every target is.
 */
import type { SideBySideVerifyReport } from './verify-side-by-side.js';

/** A split's report: the sums of its targets' reports, findings named by target. */
export function combineTargets(parts: readonly SideBySideVerifyReport[]): SideBySideVerifyReport {
  const first = parts[0]!;
  const sum = (f: (r: SideBySideVerifyReport) => number) => parts.reduce((n, r) => n + f(r), 0);
  const named = <T extends { key: string }>(r: SideBySideVerifyReport, xs: readonly T[]): T[] =>
    xs.map((x) => ({ ...x, key: `${r.target.collection}: ${x.key}` }));
  const paths: Record<string, number> = {};
  for (const r of parts)
    for (const [p, n] of Object.entries(r.paths)) paths[`${r.target.collection}: ${p}`] = n;
  const s = (r: SideBySideVerifyReport) => r.samples;
  return {
    ...first,
    ok: parts.every((r) => r.ok),
    compared: sum((r) => r.compared),
    matched: sum((r) => r.matched),
    mismatched: sum((r) => r.mismatched),
    missing: sum((r) => r.missing),
    extra: sum((r) => r.extra),
    transformErrors: sum((r) => r.transformErrors),
    settled: sum((r) => r.settled),
    oldVersion: sum((r) => r.oldVersion),
    invariantFailures: sum((r) => r.invariantFailures),
    schemaFailures: sum((r) => r.schemaFailures),
    sourceDocs: first.sourceDocs,
    targetDocs: sum((r) => r.targetDocs),
    paths,
    samples: {
      mismatched: parts.flatMap((r) => named(r, s(r).mismatched)),
      missing: parts.flatMap((r) => s(r).missing.map((k) => `${r.target.collection}: ${k}`)),
      oldVersion: parts.flatMap((r) => named(r, s(r).oldVersion)),
      checks: parts.flatMap((r) => named(r, s(r).checks)),
      extra: parts.flatMap((r) => s(r).extra.map((k) => `${r.target.collection}: ${k}`)),
      transformErrors: parts.flatMap((r) => named(r, s(r).transformErrors)),
    },
    ranges: {
      total: sum((r) => r.ranges.total),
      divergent: parts.flatMap((r) => namedBuckets(r, r.ranges.divergent)),
      divergentTotal: sum((r) => r.ranges.divergentTotal),
      drilled: sum((r) => r.ranges.drilled),
    },
    elapsedSeconds: sum((r) => r.elapsedSeconds),
    targets: [...parts],
  };
}

/** bucket ids named by target */
function namedBuckets<T extends { id: string }>(r: SideBySideVerifyReport, xs: readonly T[]): T[] {
  return xs.map((x) => ({ ...x, id: `${r.target.collection}: ${x.id}` }));
}
