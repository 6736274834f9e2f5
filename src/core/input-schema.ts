/**
 * Checking what a user wrote (a config file, a migration definition) against a zod schema, the
 * same way everywhere: the first problem becomes one InputError naming the file and the field
 * (`verify.invariants[0]`), and nothing has been changed.
 *
 * Rules:
 * - An unknown field is reported before any other problem: a misspelt name (`verfy`) explains
 *   the others (a check that never runs, a required field that looks missing). The message
 *   names the fields that are known at that place and, when one is close, the likely one.
 * - The schema's own messages are used as they are: write them for the user ("must be a
 *   function (doc) => doc"), not for the programmer.
 */
import { z } from 'zod';
import { InputError } from './errors.js';
import { parsePath } from './field-path.js';

export interface InputProblem {
  /** where, as `a.b[0].c`; undefined for the whole value */
  field: string | undefined;
  message: string;
}

/** The value, parsed; or an InputError (exit 2) naming `file` and the field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: { file?: string; prefix?: string } = {},
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problem = firstProblem(schema, parsed.error);
  throw new InputError(`${where.prefix ?? ''}${problem.message}`, {
    ...(where.file !== undefined ? { file: where.file } : {}),
    ...(problem.field !== undefined ? { field: problem.field } : {}),
  });
}

/** Why `text` is not a field path (`a.b`, `items[].sku`), in the path parser's words; or undefined. */
export function fieldPathProblem(text: string): string | undefined {
  try {
    parsePath(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The problem to show of a failed parse (unknown fields first, see the rules above). */
export function firstProblem(schema: z.ZodType, error: z.ZodError): InputProblem {
  const issues = [...error.issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  const issue = issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = knownFields(schema, issue.path);
    const names = issue.keys.map((k) => `'${k}'`).join(', ');
    const guess = issue.keys.length === 1 ? closest(issue.keys[0]!, known) : undefined;
    return {
      field: fieldName([...issue.path, issue.keys[0]!]),
      message:
        `unknown field${issue.keys.length > 1 ? 's' : ''} ${names}` +
        (guess !== undefined ? `: did you mean '${guess}'?` : '') +
        (known.length > 0 ? ` (known: ${known.join(', ')})` : ''),
    };
  }
  return {
    field: issue.path.length > 0 ? fieldName(issue.path) : undefined,
    message: issue.message,
  };
}

/** `['verify', 'invariants', 0]` -> `verify.invariants[0]` */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** The field names an object schema knows at `path` (empty when it is not an object there). */
function knownFields(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: z.ZodType | undefined = unwrap(schema);
  for (const p of path) {
    if (s instanceof z.ZodObject) s = unwrap((s.shape as Record<string, z.ZodType>)[String(p)]);
    else if (s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
    else if (s instanceof z.ZodRecord) s = unwrap(s.valueType as z.ZodType);
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape as object) : [];
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  while (
    cur instanceof z.ZodOptional ||
    cur instanceof z.ZodNullable ||
    cur instanceof z.ZodDefault
  )
    cur = cur.unwrap() as z.ZodType;
  if (cur instanceof z.ZodPipe) return unwrap(cur.in as z.ZodType);
  return cur;
}

/** The known name a typo most likely meant: at most a third of its letters off. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3))
    ? best
    : undefined;
}

/** Levenshtein distance (two rows). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length]!;
}
