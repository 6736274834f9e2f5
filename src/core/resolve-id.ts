/**
 * One rule for every place that takes an id from a user (`switchyard verify split-name`,
 * `audit --migration split`): the id itself, or an unambiguous part of it.
 *
 * Rules:
 * - An id equal to what was given wins, whatever else contains it.
 * - Otherwise every id that contains the part (any position, ignoring case) matches. One match
 *   is the answer; several are an AmbiguousIdError listing them; none is an UnknownIdError
 *   listing the ids there are. Both are bad input (exit 2) and change nothing.
 */
import { InputError } from './errors.js';

/** How many known ids an error lists before "and N more". */
const MAX_LISTED = 20;

export class UnknownIdError extends InputError {
  override readonly code = 'E_UNKNOWN_ID';
}

export class AmbiguousIdError extends InputError {
  override readonly code = 'E_AMBIGUOUS_ID';
  constructor(
    message: string,
    readonly matches: readonly string[],
    field: string,
  ) {
    super(message, { field });
  }
}

export interface ResolveIdOptions {
  /** what the ids name, for messages (default 'migration') */
  what?: string;
  /** the flag or argument that gave the part, for the error's field (default 'id') */
  field?: string;
  /** where the ids come from, for the not-found message ('in the audit log') */
  where?: string;
}

/** The one id among `ids` that `part` names (see the rules above). */
export function resolveId(
  part: string,
  ids: Iterable<string>,
  options: ResolveIdOptions = {},
): string {
  const what = options.what ?? 'migration';
  const field = options.field ?? 'id';
  const known = [...new Set(ids)].sort();
  if (known.includes(part)) return part;
  const needle = part.toLowerCase();
  const matches = needle === '' ? [] : known.filter((id) => id.toLowerCase().includes(needle));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1)
    throw new AmbiguousIdError(
      `'${part}' is ambiguous: it matches ${matches.length} ${what}s (${list(matches)}); give more of the id`,
      matches,
      field,
    );
  throw new UnknownIdError(
    `no ${what} '${part}'${options.where !== undefined ? ` ${options.where}` : ''}. Known: ${list(known) || '(none)'}`,
    { field },
  );
}

function list(ids: readonly string[]): string {
  return ids.length > MAX_LISTED
    ? `${ids.slice(0, MAX_LISTED).join(', ')} and ${ids.length - MAX_LISTED} more`
    : ids.join(', ');
}
