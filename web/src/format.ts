/** How numbers, durations and times read on the page. */

export function int(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US');
}

export function percent(part: number, whole: number, digits = 1): string {
  if (whole <= 0) return '–';
  return `${Math.min(100, (100 * part) / whole).toFixed(digits)}%`;
}

export function ratio(r: number | null | undefined, digits = 2): string {
  return r === null || r === undefined ? '–' : `${(100 * r).toFixed(digits)}%`;
}

/** 42s, 3m07s, 2h05m (as the CLI's progress line shows them) */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** how long ago an ISO time or epoch ms was, from `now` (ms) */
export function ago(at: string | number | undefined, now: number): string {
  if (at === undefined) return '';
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 2) return 'just now';
  return `${duration(s)} ago`;
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

export function json(v: unknown): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * Parameters as words, as a person would say them: `{"batchSize":200,"retryDead":false,
 * "windowMs":60000}` reads `batch size 200 · retry dead no · window 1m00s`. Nested objects go in
 * parentheses, lists are joined with commas; absent values are left out.
 */
export function words(params: Record<string, unknown>): string {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `${label(k)} ${k.endsWith('Ms') && typeof v === 'number' ? duration(v / 1000) : phrase(v)}`,
    )
    .join(' · ');
}

/** `batchSize` -> `batch size`, `windowMs` -> `window` */
function label(key: string): string {
  return key
    .replace(/Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .toLowerCase();
}

function phrase(v: unknown): string {
  if (v === null) return 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number')
    return Number.isInteger(v) ? int(v) : (+v.toPrecision(4)).toLocaleString('en-US');
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.map(phrase).join(', ');
  if (typeof v === 'object') return `(${words(v as Record<string, unknown>)})`;
  return String(v);
}
