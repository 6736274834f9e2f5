/**
 * Dates written in a fixed format (coerceType's `format`): `"2025-06-20 15:53:31 UTC"` is
 * `YYYY-MM-DD HH:mm:ss [UTC]`.
 *
 * Tokens: `YYYY` year, `MM` month, `DD` day, `HH` hour (00–23), `mm` minute, `ss` second, `SSS`
 * milliseconds, `Z` an offset (`Z`, `+02:00` or `+0200`). `[text]` is literal text, and so is any
 * character that is not a letter, and `T` (ISO 8601's separator). Every number has exactly its token's digits. Without `Z` the
 * time is UTC. Parsing is strict: a string that does not match the whole format, or names a day
 * that does not exist (`2025-02-30`), is refused, never guessed.
 *
 * `format(date)` writes a date in the same format, in UTC (`Z` as `Z`), so a string in UTC parses
 * and formats back to itself — what makes `coerceType(path, 'date', { from: 'string', format })`
 * exact.
 */
import { InputError } from '../core/errors.js';

type Part =
  | { kind: 'literal'; text: string }
  | { kind: 'number'; token: 'YYYY' | 'MM' | 'DD' | 'HH' | 'mm' | 'ss' | 'SSS' }
  | { kind: 'zone' };

const NUMBER_TOKENS = ['YYYY', 'SSS', 'MM', 'DD', 'HH', 'mm', 'ss'] as const;

export interface DateFormat {
  readonly text: string;
  parse(s: string): Date | string;
  format(d: Date): string;
}

/** Compile a format; InputError naming the operation's `format` option when it is not one. */
export function compileDateFormat(op: string, text: unknown): DateFormat {
  const bad = (why: string): never => {
    throw new InputError(`${op}: 'format' ${why}`, { field: 'format' });
  };
  if (typeof text !== 'string' || text === '') return bad('must be a non-empty string');
  const parts: Part[] = [];
  const literal = (t: string) => {
    const last = parts[parts.length - 1];
    if (last?.kind === 'literal')
      parts[parts.length - 1] = { kind: 'literal', text: last.text + t };
    else parts.push({ kind: 'literal', text: t });
  };
  for (let i = 0; i < text.length;) {
    if (text[i] === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) bad(`has a '[' without its ']' (in ${JSON.stringify(text)})`);
      literal(text.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    const token = NUMBER_TOKENS.find((t) => text.startsWith(t, i));
    if (token !== undefined) {
      parts.push({ kind: 'number', token });
      i += token.length;
    } else if (text[i] === 'Z') {
      parts.push({ kind: 'zone' });
      i += 1;
    } else if (/[A-Za-z]/.test(text[i]!) && text[i] !== 'T') {
      return bad(
        `has '${text[i]}' at ${i + 1}, which is not a token (YYYY MM DD HH mm ss SSS Z); put literal letters in [brackets]`,
      );
    } else {
      literal(text[i]!);
      i += 1;
    }
  }
  const have = new Set(parts.map((p) => (p.kind === 'number' ? p.token : p.kind)));
  for (const t of ['YYYY', 'MM', 'DD'] as const)
    if (!have.has(t)) bad(`needs YYYY, MM and DD (in ${JSON.stringify(text)})`);
  const pattern = new RegExp(
    `^${parts
      .map((p) =>
        p.kind === 'literal'
          ? p.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          : p.kind === 'zone'
            ? '(Z|[+-]\\d{2}:?\\d{2})'
            : `(\\d{${p.token.length}})`,
      )
      .join('')}$`,
  );
  return {
    text,
    parse(s) {
      const m = pattern.exec(s);
      if (m === null) return `does not match the format ${text}`;
      const f: Record<string, number> = { YYYY: 0, MM: 1, DD: 1, HH: 0, mm: 0, ss: 0, SSS: 0 };
      let offsetMin = 0;
      let g = 1;
      for (const p of parts) {
        if (p.kind === 'literal') continue;
        const v = m[g++]!;
        if (p.kind === 'number') f[p.token] = Number(v);
        else if (v !== 'Z') {
          const z = /^([+-])(\d{2}):?(\d{2})$/.exec(v)!;
          offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
        }
      }
      if (f.MM! < 1 || f.MM! > 12 || f.HH! > 23 || f.mm! > 59 || f.ss! > 59)
        return `is not a valid date or time in the format ${text}`;
      const ms = Date.UTC(f.YYYY!, f.MM! - 1, f.DD!, f.HH!, f.mm!, f.ss!, f.SSS!);
      const d = new Date(ms);
      // Date.UTC rolls 2025-02-30 over to March: refuse what does not exist
      if (d.getUTCDate() !== f.DD || d.getUTCMonth() !== f.MM! - 1 || f.YYYY! < 100)
        return `names a day that does not exist (format ${text})`;
      return new Date(ms - offsetMin * 60_000);
    },
    format(d) {
      const pad = (n: number, w: number) => String(n).padStart(w, '0');
      const v: Record<string, string> = {
        YYYY: pad(d.getUTCFullYear(), 4),
        MM: pad(d.getUTCMonth() + 1, 2),
        DD: pad(d.getUTCDate(), 2),
        HH: pad(d.getUTCHours(), 2),
        mm: pad(d.getUTCMinutes(), 2),
        ss: pad(d.getUTCSeconds(), 2),
        SSS: pad(d.getUTCMilliseconds(), 3),
      };
      return parts
        .map((p) => (p.kind === 'literal' ? p.text : p.kind === 'zone' ? 'Z' : v[p.token]!))
        .join('');
    },
  };
}
