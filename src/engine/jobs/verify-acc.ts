/**
 * What an in-place verify accumulates and reports (jobs/verify-in-place.ts): counts, capped
 * samples, path counts, running hashes. Kept apart so what adds to a report (engine/fan-out.ts)
 * needs only this, not the job.
 */
import type { DiffEntry } from '../../core/diff.js';
import type { Value } from '../../core/values.js';

/** A verify's progress per side: documents checked and journal entries checked, of their totals. */
export interface VerifySides {
  documents: { done: number; total: number };
  journal: { done: number; total: number };
}

export interface Mismatch {
  key: string;
  diffs: { path: string; field: string; expected?: Value; actual?: Value }[];
}

export interface VerifyCounts {
  compared: number;
  matched: number;
  mismatched: number;
  missing: number;
  extra: number;
  oldVersion: number;
  /** at the old version because an operation with `onInvalid: 'skip'` leaves it as it is: not drift */
  leftAsIs: number;
  /** at a version past the step's `to` (moved on by a later step): not drift, not compared */
  newer: number;
  invariantFailures: number;
  schemaFailures: number;
  /** stored documents that cannot be read (not JSON, a JSON array): named in samples.checks */
  unreadable?: number;
  /**
   * differ from up(before-image) recomputed with the looked-up documents as they are now, and a
   * looked-up document changed since the backfill read it: not drift (engine/lookups.ts)
   */
  lookupChanged?: number;
  /**
   * a fan-out (engine/fan-out.ts): emitted documents checked (those missing or different are
   * counted in `missing` / `mismatched` and named `<collection>/<key>`)
   */
  emitted?: number;
}

/** A document whose looked-up document changed since the backfill, and how it differs now. */
export interface LookupChange extends Mismatch {
  /** the names of the lookups whose document changed */
  lookups: string[];
}

export interface VerifySamples {
  mismatched: Mismatch[];
  missing: string[];
  oldVersion: { key: string; version: number }[];
  checks: { key: string; failures: string[] }[];
  /** absent in a partition saved by an older version */
  lookupChanged?: LookupChange[];
}

/** What one partition (or the sample) accumulates; JSON, kept in the partition document. */
export interface VerifyAcc {
  counts: VerifyCounts;
  paths: Record<string, number>;
  samples: VerifySamples;
  expectedHash: string;
  actualHash: string;
}

export const ZERO_VERIFY: VerifyCounts = {
  compared: 0,
  matched: 0,
  mismatched: 0,
  missing: 0,
  extra: 0,
  oldVersion: 0,
  leftAsIs: 0,
  newer: 0,
  invariantFailures: 0,
  schemaFailures: 0,
  unreadable: 0,
  lookupChanged: 0,
  emitted: 0,
};

export function emptyAcc(): VerifyAcc {
  return {
    counts: { ...ZERO_VERIFY },
    paths: {},
    samples: { mismatched: [], missing: [], oldVersion: [], checks: [], lookupChanged: [] },
    expectedHash: '',
    actualHash: '',
  };
}

/** The diffs of a mismatch as the report shows them (at most 20). */
export function toMismatch(key: string, diffs: readonly DiffEntry[]): Mismatch {
  return {
    key,
    diffs: diffs.slice(0, 20).map((d) => ({
      path: d.path,
      field: d.field,
      ...(d.before !== undefined ? { expected: d.before } : {}),
      ...(d.after !== undefined ? { actual: d.after } : {}),
    })),
  };
}
