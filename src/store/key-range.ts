/**
 * Key ranges for stores that scan in key order (memory, sqlite): `[start, end)` in code-point
 * order, either end open. `rangesFromBoundaries` turns n-1 sorted boundary keys into n ranges
 * that are disjoint and cover the whole keyspace, including keys written later.
 */
import type { Key, Range } from './contract.js';

export interface KeyRange extends Range {
  readonly start?: Key;
  readonly end?: Key;
}

export function rangesFromBoundaries(boundaries: readonly Key[]): KeyRange[] {
  const unique = [...new Set(boundaries)];
  const ranges: KeyRange[] = [];
  const total = unique.length + 1;
  for (let i = 0; i < total; i++) {
    const start = i === 0 ? undefined : unique[i - 1];
    const end = i === unique.length ? undefined : unique[i];
    ranges.push({
      id: `${i + 1}/${total}`,
      ...(start !== undefined ? { start } : {}),
      ...(end !== undefined ? { end } : {}),
    });
  }
  return ranges;
}

export function asKeyRange(range: Range | undefined): KeyRange {
  if (range === undefined) return { id: 'all' };
  const { start, end } = range as KeyRange;
  if (
    (start !== undefined && typeof start !== 'string') ||
    (end !== undefined && typeof end !== 'string')
  ) {
    throw new TypeError(`range ${range.id} is not a key range`);
  }
  return range as KeyRange;
}
