import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash32, inLivePercent, liveBucket } from '../../src/runtime/sticky.js';

/** the reference: FNV-1a over Node's own UTF-8 encoding, then fmix32 */
function reference(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const keys = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));

describe('sticky live percent', () => {
  it('hashes the UTF-8 bytes (same buckets as a port that hashes the same bytes)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(hash32(s)).toBe(reference(s));
      }),
    );
    // lone surrogates are encoded as U+FFFD, as Buffer.from does
    expect(hash32('a\ud800b')).toBe(reference('a\ud800b'));
    expect(hash32('\udc00')).toBe(reference('\udc00'));
  });

  it('gives the same answer every call for a key, migration and percent', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.double({ min: 0, max: 100 }), (k, id, p) => {
        const first = inLivePercent(k, id, p);
        for (let i = 0; i < 3; i++) expect(inLivePercent(k, id, p)).toBe(first);
      }),
    );
  });

  it('is monotonic in the percent: raising it only adds keys', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (k, id, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          if (inLivePercent(k, id, lo)) expect(inLivePercent(k, id, hi)).toBe(true);
        },
      ),
    );
  });

  it('buckets lie in [0, 100); 0% takes no key and 100% every key', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (k, id) => {
        const b = liveBucket(k, id);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(100);
        expect(inLivePercent(k, id, 0)).toBe(false);
        expect(inLivePercent(k, id, 100)).toBe(true);
      }),
    );
  });

  const keySets: [string, string[]][] = [
    ['sequential ids', keys(10_000, (i) => `u${String(i).padStart(6, '0')}`)],
    ['numbers', keys(10_000, (i) => String(i))],
    ['object ids', keys(10_000, (i) => `65f0a1b2c3d4e5f6${i.toString(16).padStart(8, '0')}`)],
    ['random', fc.sample(fc.string({ minLength: 1, maxLength: 24 }), { numRuns: 10_000, seed: 7 })],
  ];
  for (const [name, set] of keySets) {
    it(`over 10,000 keys (${name}) the share is within 2 points of N`, () => {
      for (const id of ['m-1', '20261120-split-name']) {
        for (const n of [1, 5, 25, 50, 75, 99]) {
          const share = (set.filter((k) => inLivePercent(k, id, n)).length / set.length) * 100;
          expect(Math.abs(share - n), `${id} at ${n}%: ${share}%`).toBeLessThanOrEqual(2);
        }
        expect(set.some((k) => inLivePercent(k, id, 0))).toBe(false);
        expect(set.every((k) => inLivePercent(k, id, 100))).toBe(true);
      }
    });
  }

  it('two migrations pick different keys', () => {
    const set = keys(10_000, (i) => `k${i}`);
    const a = new Set(set.filter((k) => inLivePercent(k, 'm-a', 50)));
    const both = set.filter((k) => inLivePercent(k, 'm-b', 50) && a.has(k)).length;
    expect(Math.abs(both / set.length - 0.25)).toBeLessThan(0.02); // independent halves
  });
});
