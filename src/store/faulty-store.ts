/**
 * A store wrapper that injects faults, for tests that claim to survive them: calls that fail
 * before they reach the store, writes that succeed but whose acknowledgement is lost (the caller
 * sees an error although the data changed — the hard case for retries), throttling errors,
 * scan cursors refused as after a server restart (CursorInvalidatedError), and latency.
 * Deterministic for a seed.
 */
import { StoreError } from '../core/errors.js';
import { CursorInvalidatedError } from './store-errors.js';
import type {
  Collection,
  Key,
  Range,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from './contract.js';

export class InjectedFaultError extends StoreError {
  override readonly code = 'E_INJECTED_FAULT';
  constructor(
    message: string,
    readonly throttled = false,
  ) {
    super(message);
  }
}

export interface FaultOptions {
  /** probability that a call fails before reaching the store */
  failRate?: number;
  /** probability that a write is applied but its result is replaced by an error */
  lostAckRate?: number;
  /** probability that a call fails as throttled (before reaching the store) */
  throttleRate?: number;
  /** probability that a scan continuing a cursor (not starting one) refuses it, as a Redis
   * server does after a restart: CursorInvalidatedError, nothing read */
  invalidCursorRate?: number;
  /** added latency per call, ms: a number or [min, max] */
  latencyMs?: number | [number, number];
  seed?: number;
  /** which collections are affected (default: all but the `_sy_` state collections) */
  affects?: (collection: string) => boolean;
}

export interface FaultStats {
  calls: number;
  failures: number;
  lostAcks: number;
  throttled: number;
  invalidatedCursors: number;
}

/** A small seeded random number generator (mulberry32), for deterministic fault injection. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultyStore implements Store {
  readonly kind: string;
  readonly url: string;
  readonly stats: FaultStats = {
    calls: 0,
    failures: 0,
    lostAcks: 0,
    throttled: 0,
    invalidatedCursors: 0,
  };
  readonly #random: () => number;
  enabled = true;

  constructor(
    readonly inner: Store,
    readonly options: FaultOptions,
  ) {
    this.kind = inner.kind;
    this.url = inner.url;
    this.#random = rng(options.seed ?? 1);
  }

  collection(name: string): Collection {
    const c = this.inner.collection(name);
    const affects = this.options.affects ?? ((n: string) => !n.startsWith('_sy_'));
    return affects(name) ? new FaultyCollection(this, c) : c;
  }

  listCollections(options?: { includeReserved?: boolean }): Promise<string[]> {
    return this.inner.listCollections(options);
  }

  dropCollection(name: string): Promise<void> {
    return this.inner.dropCollection(name);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** @internal */
  async before(what: string): Promise<void> {
    this.stats.calls += 1;
    const { latencyMs } = this.options;
    if (latencyMs !== undefined && this.enabled) {
      const ms = Array.isArray(latencyMs)
        ? latencyMs[0] + this.#random() * (latencyMs[1] - latencyMs[0])
        : latencyMs;
      await new Promise((r) => setTimeout(r, ms));
    }
    if (!this.enabled) return;
    if (this.#random() < (this.options.throttleRate ?? 0)) {
      this.stats.throttled += 1;
      throw new InjectedFaultError(`injected: ${what} throttled`, true);
    }
    if (this.#random() < (this.options.failRate ?? 0)) {
      this.stats.failures += 1;
      throw new InjectedFaultError(`injected: ${what} failed`);
    }
  }

  /** @internal */
  beforeScan(options: ScanOptions): void {
    const rate = this.options.invalidCursorRate ?? 0;
    // no draw when off: seeded runs of the other faults stay as they were
    if (options.cursor == null || !this.enabled || rate === 0) return;
    if (this.#random() < rate) {
      this.stats.invalidatedCursors += 1;
      throw new CursorInvalidatedError('injected: the scan cursor lost its meaning');
    }
  }

  /** @internal */
  afterWrite(): void {
    if (this.enabled && this.#random() < (this.options.lostAckRate ?? 0)) {
      this.stats.lostAcks += 1;
      throw new InjectedFaultError('injected: write applied but the acknowledgement was lost');
    }
  }
}

class FaultyCollection implements Collection {
  constructor(
    readonly store: FaultyStore,
    readonly inner: Collection,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async get(key: Key): Promise<StoredDoc | null> {
    await this.store.before('get');
    return this.inner.get(key);
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    await this.store.before('getMany');
    return this.inner.getMany(keys);
  }

  async scan(options: ScanOptions): Promise<ScanPage> {
    await this.store.before('scan');
    this.store.beforeScan(options);
    return this.inner.scan(options);
  }

  async split(n: number): Promise<Range[]> {
    await this.store.before('split');
    return this.inner.split(n);
  }

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    await this.store.before('write');
    const results = await this.inner.write(ops);
    this.store.afterWrite();
    return results;
  }

  async count(range?: Range): Promise<number> {
    await this.store.before('count');
    return this.inner.count(range);
  }
}
