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
