/**
 * Which keys the new side answers in the live stage: a deterministic, sticky split.
 *
 * Rules:
 * - a key's bucket is a 32-bit hash of the UTF-8 bytes of `${migrationId}\u0000${key}` (FNV-1a,
 *   then murmur3's fmix32 finaliser so that similar keys spread evenly), mapped to [0, 100);
 * - a key is in the live percent when its bucket is below the percent. So the answer never
 *   changes for a key and percent (sticky, in every process and every language that hashes the
 *   same bytes), raising the percent only adds keys (a key in at 25% stays in at 50%), 0 takes
 *   no key and 100 takes every key;
 * - the migration id is part of the hash, so two migrations do not pick the same keys.
 */

const TWO_32 = 0x1_0000_0000;

/** The key's bucket in [0, 100) for a migration. */
export function liveBucket(key: string, migrationId: string): number {
  return (hash32(`${migrationId}\u0000${key}`) / TWO_32) * 100;
}

/** true when the new side answers `key` at `percent` (0-100) of keys live. */
export function inLivePercent(key: string, migrationId: string, percent: number): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return liveBucket(key, migrationId) < percent;
}

/** FNV-1a over the UTF-8 bytes of `s`, finalised with murmur3's fmix32. Unsigned 32 bits. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  const byte = (b: number): void => {
    h = Math.imul(h ^ b, 0x01000193);
  };
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate, as Buffer.from encodes it
    if (c < 0x80) byte(c);
    else if (c < 0x800) {
      byte(0xc0 | (c >> 6));
      byte(0x80 | (c & 63));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 63));
      byte(0x80 | (c & 63));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 63));
      byte(0x80 | ((c >> 6) & 63));
      byte(0x80 | (c & 63));
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
