/**
 * The in-process reference implementation of the store contract. Documents are held in their
 * storage form (text), so a caller can never mutate what is stored and every value goes through
 * the same encode/decode path as a real store.
 */
import { compareKeys, fromStorageJSON, toStorageJSON, type Doc } from '../../core/values.js';
import type {
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../contract.js';
import { CollectionsByName, listedCollections } from '../collections-by-name.js';
import { asKeyRange, rangesFromBoundaries } from '../key-range.js';
import { newRev } from '../rev.js';

interface Entry {
  text: string;
  rev: string;
}

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: true,
  changeFeed: false,
  atomicBatch: true,
};

export class MemoryCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly #entries = new Map<Key, Entry>();
  /** keys in code-point order; kept sorted on insert and delete */
  readonly #keys: Key[] = [];

  constructor(readonly name: string) {}

  get size(): number {
    return this.#entries.size;
  }

  async get(key: Key): Promise<StoredDoc | null> {
    return this.#read(key);
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    return keys.map((k) => this.#read(k));
  }

  async scan({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const { start, end } = asKeyRange(range);
    let i = 0;
    if (cursor != null) i = this.#upperBound(cursor);
    else if (start !== undefined) i = this.#lowerBound(start);
    if (start !== undefined) i = Math.max(i, this.#lowerBound(start));
    const items: StoredDoc[] = [];
    for (; i < this.#keys.length && items.length < limit; i++) {
      const key = this.#keys[i]!;
      if (end !== undefined && compareKeys(key, end) >= 0) break;
      items.push(this.#read(key)!);
    }
    const more =
      items.length === limit &&
      i < this.#keys.length &&
      (end === undefined || compareKeys(this.#keys[i]!, end) < 0);
    return { items, cursor: more ? items[items.length - 1]!.key : null };
  }

  async split(n: number): Promise<Range[]> {
    const count = this.#keys.length;
    const boundaries: Key[] = [];
    for (let i = 1; i < n && count > 0; i++) {
      const k = this.#keys[Math.floor((i * count) / n)];
      if (k !== undefined && k !== this.#keys[0]) boundaries.push(k);
    }
    return rangesFromBoundaries(boundaries);
  }

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    return ops.map((op) => this.#apply(op));
  }

  async count(range?: Range): Promise<number> {
    if (range === undefined) return this.#keys.length;
    const { start, end } = asKeyRange(range);
    const lo = start === undefined ? 0 : this.#lowerBound(start);
    const hi = end === undefined ? this.#keys.length : this.#lowerBound(end);
    return Math.max(0, hi - lo);
  }

  /** Test hook: change a document the way a foreign writer would (new content, new rev). */
  tamper(key: Key, doc: Doc): void {
    this.#set(key, { text: toStorageJSON(doc), rev: newRev() });
  }

  #apply(op: WriteOp): WriteResult {
    const current = this.#entries.get(op.key);
    if (op.ifRev !== undefined && (current?.rev ?? null) !== op.ifRev) {
      return { key: op.key, ok: false, reason: 'conflict', currentRev: current?.rev ?? null };
    }
    if (op.type === 'delete') {
      if (current !== undefined) this.#remove(op.key);
      return { key: op.key, ok: true, rev: null };
    }
    const rev = newRev();
    this.#set(op.key, { text: toStorageJSON(op.doc), rev });
    return { key: op.key, ok: true, rev };
  }

  #read(key: Key): StoredDoc | null {
    const e = this.#entries.get(key);
    return e === undefined
      ? null
      : { key, doc: fromStorageJSON(e.text) as Doc, rev: e.rev, text: e.text };
  }

  #set(key: Key, entry: Entry): void {
    if (!this.#entries.has(key)) this.#keys.splice(this.#lowerBound(key), 0, key);
    this.#entries.set(key, entry);
  }

  #remove(key: Key): void {
    this.#entries.delete(key);
    this.#keys.splice(this.#lowerBound(key), 1);
  }

  /** first index whose key is >= k */
  #lowerBound(k: Key): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#keys[mid]!, k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** first index whose key is > k */
  #upperBound(k: Key): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#keys[mid]!, k) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly url = 'memory:';
  readonly #collections = new CollectionsByName((name) => new MemoryCollection(name));

  collection(name: string): MemoryCollection {
    return this.#collections.get(name);
  }

  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const names = [...this.#collections.made()].filter(([, c]) => c.size > 0).map(([n]) => n);
    return listedCollections(names, options);
  }

  async dropCollection(name: string): Promise<void> {
    this.#collections.forget(name);
  }

  async close(): Promise<void> {}
}
