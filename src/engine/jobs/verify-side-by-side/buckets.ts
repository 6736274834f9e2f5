/**
 * Bucket summaries of the side-by-side verify: every key falls in a bucket, `bucketOf(key, B)`,
 * that any store computes from the key alone; per bucket and side, a count and an
 * order-independent digest (the lane-wise sum, mod 2^32, of four 32-bit lanes of
 * sha1(key, content hash)). A sum, not a xor: a document read twice does not cancel out.
 *
 * Summaries add up: a partition's summary is checkpointed with its cursor (as base64 of the two
 * arrays) and the side's summary is the sum of its partitions', in any order.
 */
import { hash as oneShotHash } from 'node:crypto';
import type { Key } from '../../../store/contract.js';

/**
 * The most buckets: 8,192 x 20 bytes is 160 KB per summary, about 220 KB as base64 in a
 * partition document — under DynamoDB's 400 KB item limit, so any store can hold the state.
 */
export const MAX_BUCKETS = 8192;
/** documents per bucket the default bucket count aims at */
export const DOCS_PER_BUCKET = 64;

/**
 * The bucket of a key, from the key alone (FNV-1a over UTF-16 code units, then murmur3's
 * finalizer), so any store computes the same one whatever its key order or partitioning.
 */
export function bucketOf(key: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % buckets;
}

/** The serialized form, in a partition's checkpoint. */
export interface SummaryJSON {
  size: number;
  counts: string;
  lanes: string;
}

/** Per bucket: a count and a four-lane sum of per-document hashes. Order-independent. */
export class BucketSummary {
  readonly counts: Uint32Array;
  readonly lanes: Uint32Array;

  constructor(readonly size: number) {
    this.counts = new Uint32Array(size);
    this.lanes = new Uint32Array(size * 4);
  }

  static fromJSON(j: SummaryJSON): BucketSummary {
    const s = new BucketSummary(j.size);
    s.counts.set(new Uint32Array(toArrayBuffer(Buffer.from(j.counts, 'base64'))));
    s.lanes.set(new Uint32Array(toArrayBuffer(Buffer.from(j.lanes, 'base64'))));
    return s;
  }

  toJSON(): SummaryJSON {
    const b64 = (a: Uint32Array) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
    return { size: this.size, counts: b64(this.counts), lanes: b64(this.lanes) };
  }

  /** Add one document, given its key and the hash of its content (or any fixed marker). */
  add(key: Key, hash: string): number {
    const b = bucketOf(key, this.size);
    const d = oneShotHash('sha1', `${key.length}:${key}\u0000${hash}`, 'buffer');
    this.counts[b] = (this.counts[b]! + 1) >>> 0;
    for (let i = 0; i < 4; i++)
      this.lanes[b * 4 + i] = (this.lanes[b * 4 + i]! + d.readUInt32LE(i * 4)) >>> 0;
    return b;
  }

  /** Add another summary of the same size into this one. */
  merge(other: BucketSummary): this {
    for (let i = 0; i < this.counts.length; i++)
      this.counts[i] = (this.counts[i]! + other.counts[i]!) >>> 0;
    for (let i = 0; i < this.lanes.length; i++)
      this.lanes[i] = (this.lanes[i]! + other.lanes[i]!) >>> 0;
    return this;
  }

  digest(b: number): string {
    return Buffer.from(this.lanes.buffer, this.lanes.byteOffset + b * 16, 16).toString('hex');
  }

  /** The buckets whose count or digest differ from `other`'s. */
  divergent(other: BucketSummary): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.size; b++) {
      if (this.counts[b] !== other.counts[b]) {
        out.push(b);
        continue;
      }
      for (let i = 0; i < 4; i++) {
        if (this.lanes[b * 4 + i] !== other.lanes[b * 4 + i]) {
          out.push(b);
          break;
        }
      }
    }
    return out;
  }
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
