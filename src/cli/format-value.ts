import { EJSON } from 'bson';
import type { DiffEntry } from '../core/diff.js';
import type { Value } from '../core/values.js';

/** A value for people: relaxed Extended JSON, cut to `max` characters. */
export function formatValue(v: Value | undefined, max = 80): string {
  if (v === undefined) return '(absent)';
  const s = EJSON.stringify(v, { relaxed: true });
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** One line per difference: `~ /name: "Ada Lovelace" -> "Ada"`. */
export function formatDiff(entries: readonly DiffEntry[], indent = '    '): string[] {
  return entries.map((d) => {
    if (d.op === 'add') return `${indent}+ ${d.path}: ${formatValue(d.after)}`;
    if (d.op === 'remove') return `${indent}- ${d.path}: ${formatValue(d.before)}`;
    return `${indent}~ ${d.path}: ${formatValue(d.before)} -> ${formatValue(d.after)}`;
  });
}
