/**
 * The `--chaos` spec: which faults to inject into the data store (faulty-store.ts does it), as
 * comma-separated parts, each `name=value`:
 *
 *   latency=20ms            every call waits 20 ms first (or latency=10ms..50ms: between the two)
 *   jitter=10ms             and up to 10 ms more, at random
 *   error=2%                a call fails before it reaches the store (all kinds of calls), or
 *   error=write:5%          only this kind: read, scan, write, changes (the part may be repeated)
 *   timeout=write:1%        a call waits `timeout-after`, then fails (a write was applied first)
 *   timeout-after=500ms     (default 250 ms)
 *   throttle=3%             a call fails as throttled (the back-off slows the job down)
 *   lost-ack=1%             a write is applied but the caller sees an error
 *   cursor-loss=1%          a continued scan's cursor is refused, as after a Redis restart
 *   outage=25%@2s+5s        the keys of 25% of the key space fail from 2 s after the first call,
 *                           for 5 s
 *
 * Rates are `p%` or a fraction 0..1; durations `Nms` or `Ns`. A bad part is an InputError naming
 * it (exit 2). The seed (`--chaos-seed`) makes a run reproducible; without one a seed is drawn and
 * reported, so the run can be repeated. The spec and the seed go to the audit log as given.
 */
import { randomInt } from 'node:crypto';
import { InputError } from '../core/errors.js';
import { CALL_KINDS, type CallKind, type FaultOptions, type RatePerKind } from './faulty-store.js';

/** A parsed `--chaos`: the text as given, its seed, and the fault options it stands for. */
export interface ChaosSpec {
  readonly text: string;
  readonly seed: number;
  readonly faults: FaultOptions;
}

export const CHAOS_PARTS = [
  'latency',
  'jitter',
  'error',
  'timeout',
  'timeout-after',
  'throttle',
  'lost-ack',
  'cursor-loss',
  'outage',
] as const;

export class ChaosSpecError extends InputError {
  override readonly code = 'E_CHAOS_SPEC';
}

/** Parse `--chaos` (and `--chaos-seed`); throws ChaosSpecError naming the part that is wrong. */
export function parseChaos(text: string, seed?: number | string, flag = '--chaos'): ChaosSpec {
  const bad = (part: string, why: string): never => {
    throw new ChaosSpecError(`${flag} '${part}': ${why}`, { field: flag });
  };
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0)
    bad(
      text,
      `empty; expected parts such as latency=20ms,error=write:5% (${CHAOS_PARTS.join(', ')})`,
    );
  let latency: [number, number] | undefined;
  let jitter = 0;
  const f: {
    -readonly [K in keyof FaultOptions]: FaultOptions[K];
  } = {};
  const perKind = (part: string, value: string, into: RatePerKind | undefined): RatePerKind => {
    const out: RatePerKind = { ...into };
    const colon = value.indexOf(':');
    if (colon < 0) {
      const rate = parseRate(value) ?? bad(part, `'${value}' is not a rate (5% or 0.05)`);
      for (const k of CALL_KINDS) out[k] = rate;
      return out;
    }
    const kind = value.slice(0, colon) as CallKind;
    if (!CALL_KINDS.includes(kind))
      bad(part, `unknown kind of call '${kind}' (expected ${CALL_KINDS.join(', ')})`);
    const rateText = value.slice(colon + 1);
    out[kind] = parseRate(rateText) ?? bad(part, `'${rateText}' is not a rate (5% or 0.05)`);
    return out;
  };
  const seen = new Set<string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) bad(part, `expected name=value, one of ${CHAOS_PARTS.join(', ')}`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!(CHAOS_PARTS as readonly string[]).includes(name))
      bad(part, `unknown part '${name}' (expected one of ${CHAOS_PARTS.join(', ')})`);
    if (seen.has(name) && name !== 'error' && name !== 'timeout')
      bad(part, `'${name}' is given twice`);
    seen.add(name);
    const rate = (): number =>
      parseRate(value) ?? bad(part, `'${value}' is not a rate (5% or 0.05)`);
    const ms = (v: string): number =>
      parseDuration(v) ?? bad(part, `'${v}' is not a duration (250ms or 2s)`);
    switch (name) {
      case 'latency': {
        const [lo, hi] = value.split('..');
        const min = ms(lo!);
        const max = hi === undefined ? min : ms(hi);
        if (max < min) bad(part, `the maximum ${hi} is below the minimum ${lo}`);
        latency = [min, max];
        break;
      }
      case 'jitter':
        jitter = ms(value);
        break;
      case 'error':
        f.failRates = perKind(part, value, f.failRates);
        break;
      case 'timeout':
        f.timeoutRates = perKind(part, value, f.timeoutRates);
        break;
      case 'timeout-after':
        f.timeoutMs = ms(value);
        break;
      case 'throttle':
        f.throttleRate = rate();
        break;
      case 'lost-ack':
        f.lostAckRate = rate();
        break;
      case 'cursor-loss':
        f.invalidCursorRate = rate();
        break;
      case 'outage': {
        const m = /^([^@]+)@([^+]+)\+(.+)$/.exec(value);
        if (m === null) bad(part, 'expected share@start+duration, e.g. outage=25%@2s+5s');
        const share = parseRate(m![1]!) ?? bad(part, `'${m![1]}' is not a share (25% or 0.25)`);
        f.outage = { share, fromMs: ms(m![2]!), forMs: ms(m![3]!) };
        break;
      }
    }
  }
  if (latency !== undefined || jitter > 0) {
    const [min, max] = latency ?? [0, 0];
    f.latencyMs = min === max + jitter ? min : [min, max + jitter];
  }
  const s = seed === undefined ? randomInt(1, 2 ** 31) : parseSeed(seed, flag);
  return { text: parts.join(','), seed: s, faults: { ...f, seed: s } };
}

function parseSeed(seed: number | string, flag: string): number {
  const n = typeof seed === 'number' ? seed : Number(seed);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ChaosSpecError(`${flag}-seed '${seed}': expected a whole number, 0 or more`, {
      field: `${flag}-seed`,
    });
  return n;
}

/** `5%` or `0.05` -> 0.05; undefined when it is neither or outside 0..1. */
export function parseRate(text: string): number | undefined {
  const t = text.trim();
  const pct = t.endsWith('%');
  const body = pct ? t.slice(0, -1) : t;
  if (!/^\d+(\.\d+)?$/.test(body)) return undefined;
  const n = pct ? Number(body) / 100 : Number(body);
  return n >= 0 && n <= 1 ? n : undefined;
}

/** `250ms` or `2s` (or `1.5s`) -> milliseconds; undefined otherwise. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
}
