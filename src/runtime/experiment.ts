/**
 * A Scientist-style comparison of a dual read (github/scientist experiment.rb, observation.rb).
 *
 * Rules:
 * - the control (the old side, or what the new side should hold, e.g. up(old)) always answers;
 *   the comparison only observes. A candidate that failed is passed in as its Error: the
 *   observation records it (not matched, no paths) and the caller sends it to its error sink;
 * - an Observation is an immutable value (frozen, with a frozen path list);
 * - mismatches are named by field pattern (core/diff.ts `field`: `items[].price`), each pattern
 *   once per observation, sorted; a document present on one side only is named by
 *   `ABSENT_IN_CANDIDATE` or `ABSENT_IN_CONTROL`; both absent is a match;
 * - a comparison the caller could not trust (the old document was written after the control read:
 *   shadow.ts rechecks) is a `discarded` observation: neither a match nor a mismatch, counted on
 *   its own so an operator sees how many there were;
 * - `MismatchCounter` aggregates observations for publishing: totals, errors by name or code, and
 *   counts by path (at most `maxPaths` distinct patterns; later ones are counted under
 *   `OTHER_PATHS`, so a wild document shape cannot grow memory without bound).
 */
import { diff } from '../core/diff.js';
import type { Doc } from '../core/values.js';

export const ABSENT_IN_CANDIDATE = '(absent in candidate)';
export const ABSENT_IN_CONTROL = '(absent in control)';
export const OTHER_PATHS = '(other paths)';
/** the root field pattern, when one side is not a document at all */
export const ROOT_PATH = '(document)';
export const DEFAULT_MAX_PATHS = 1000;

export interface Observation {
  readonly matched: boolean;
  readonly mismatchedPaths: readonly string[];
  readonly candidateError?: Error;
  /** set when the comparison could not be trusted and counts as neither match nor mismatch */
  readonly discarded?: true;
}

/** A comparison that counts as neither a match nor a mismatch (see the header). */
export const DISCARDED: Observation = Object.freeze({
  matched: false,
  mismatchedPaths: Object.freeze([]) as readonly string[],
  discarded: true,
});

export interface CompareOptions {
  /** top-level fields left out of the comparison (e.g. the version field) */
  ignore?: readonly string[];
}

export function compare(
  control: Doc | null,
  candidate: Doc | null | Error,
  options: CompareOptions = {},
): Observation {
  if (candidate instanceof Error) return observation(false, [], candidate);
  if (control === null || candidate === null) {
    if (control === candidate) return observation(true, []);
    return observation(false, [control === null ? ABSENT_IN_CONTROL : ABSENT_IN_CANDIDATE]);
  }
  const entries = diff(control, candidate, options.ignore ? { ignore: options.ignore } : {});
  const paths = [...new Set(entries.map((e) => (e.field === '' ? ROOT_PATH : e.field)))].sort();
  return observation(paths.length === 0, paths);
}

function observation(matched: boolean, paths: string[], error?: Error): Observation {
  return Object.freeze({
    matched,
    mismatchedPaths: Object.freeze(paths),
    ...(error !== undefined ? { candidateError: error } : {}),
  });
}

export interface MismatchSnapshot {
  /** every observation: matched + mismatched + errors + discarded */
  readonly total: number;
  readonly matched: number;
  readonly mismatched: number;
  readonly errors: number;
  /** comparisons left uncounted because the document was written after it was read */
  readonly discarded: number;
  /** mismatched / (matched + mismatched); 0 when nothing was compared */
  readonly mismatchRate: number;
  /** errors / total; 0 when nothing was observed */
  readonly errorRate: number;
  /** counts by field pattern, most frequent first (ties by name) */
  readonly byPath: readonly NamedCount[];
  /** candidate errors by `code` when they have one, else by `name`, most frequent first */
  readonly errorsByKind: readonly NamedCount[];
}

export interface NamedCount {
  readonly name: string;
  readonly count: number;
}

export class MismatchCounter {
  readonly #maxPaths: number;
  #total = 0;
  #matched = 0;
  #mismatched = 0;
  #errors = 0;
  #discarded = 0;
  #byPath = new Map<string, number>();
  #errorsByKind = new Map<string, number>();

  constructor(options: { maxPaths?: number } = {}) {
    this.#maxPaths = options.maxPaths ?? DEFAULT_MAX_PATHS;
  }

  record(o: Observation): void {
    this.#total++;
    if (o.discarded === true) {
      this.#discarded++;
      return;
    }
    if (o.candidateError !== undefined) {
      this.#errors++;
      const code = (o.candidateError as { code?: unknown }).code;
      bump(this.#errorsByKind, typeof code === 'string' ? code : o.candidateError.name);
      return;
    }
    if (o.matched) {
      this.#matched++;
      return;
    }
    this.#mismatched++;
    for (const p of o.mismatchedPaths) {
      const known = this.#byPath.has(p) || this.#byPath.size < this.#maxPaths;
      bump(this.#byPath, known ? p : OTHER_PATHS);
    }
  }

  snapshot(): MismatchSnapshot {
    const compared = this.#matched + this.#mismatched;
    return Object.freeze({
      total: this.#total,
      matched: this.#matched,
      mismatched: this.#mismatched,
      errors: this.#errors,
      discarded: this.#discarded,
      mismatchRate: compared === 0 ? 0 : this.#mismatched / compared,
      errorRate: this.#total === 0 ? 0 : this.#errors / this.#total,
      byPath: sortedCounts(this.#byPath),
      errorsByKind: sortedCounts(this.#errorsByKind),
    });
  }

  /** Add a drained snapshot back (its publish failed). */
  restore(s: MismatchSnapshot): void {
    this.#total += s.total;
    this.#matched += s.matched;
    this.#mismatched += s.mismatched;
    this.#errors += s.errors;
    this.#discarded += s.discarded;
    for (const p of s.byPath) this.#byPath.set(p.name, (this.#byPath.get(p.name) ?? 0) + p.count);
    for (const e of s.errorsByKind)
      this.#errorsByKind.set(e.name, (this.#errorsByKind.get(e.name) ?? 0) + e.count);
  }

  /** The snapshot, and start counting again (for publishing per window). */
  drain(): MismatchSnapshot {
    const s = this.snapshot();
    this.#total = this.#matched = this.#mismatched = this.#errors = this.#discarded = 0;
    this.#byPath = new Map();
    this.#errorsByKind = new Map();
    return s;
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function sortedCounts(m: Map<string, number>): readonly NamedCount[] {
  return Object.freeze(
    [...m]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([name, count]) => Object.freeze({ name, count })),
  );
}
