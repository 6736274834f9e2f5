/**
 * Every JSON the dashboard sends (API answers, event stream, errors) is written by `toSafeJson`:
 * each string value — and each key — passes through secret redaction (store-url.ts), so a
 * password in a connection string cannot reach a page even when it hides in a driver's error
 * message, a dead letter or an old audit entry. Builders may still redact earlier; this is the
 * last line, and the only way out.
 */
import { redactSecrets } from '../store/store-url.js';

export function toSafeJson(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _key: string, v: unknown) {
    if (typeof v === 'string') return redactSecrets(v);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.some(([k]) => redactSecrets(k) !== k))
        return Object.fromEntries(entries.map(([k, x]) => [redactSecrets(k), x]));
    }
    return v;
  });
}
