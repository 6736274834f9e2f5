/**
 * A store wrapper that injects faults: for tests that claim to survive them, and for users who
 * rehearse a migration under chaos (`--chaos`, chaos-spec.ts turns the flag into these options).
 * Faults: calls that fail before they reach the store (one rate for all calls, or per kind of
 * call), writes that succeed but whose acknowledgement is lost (the caller sees an error although
 * the data changed — the hard case for retries), throttling errors, timeouts (the call waits,
 * then fails; a write that times out was applied, as a real one may have been), a partial outage
 * (the keys of a share of the key space fail for a while), scan cursors refused as after a server
 * restart (CursorInvalidatedError), and latency (fixed, or between a minimum and a maximum).
 *
 * Rules:
 * - Deterministic for a seed and a sequence of calls: every decision is a draw from one seeded
 *   generator, in call order (one lane gives the same faults run after run); a fault that is off
 *   draws nothing, so adding a kind of fault leaves the draws of the others as they were.
 * - Which keys an outage takes is a hash of the seed and the key, whatever the call order; its
 *   window is measured from the wrapper's first call.
 * - The `_sy_` state collections are spared unless `affects` says otherwise: a fault injected
 *   into the control plane would test the rehearsal, not the migration.
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../core/errors.js';
import { CursorInvalidatedError } from './store-errors.js';
import type {
  Change,
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
  override readonly code: string = 'E_INJECTED_FAULT';
  constructor(
    message: string,
    readonly throttled = false,
  ) {
    super(message);
  }
}

/** An injected timeout: the call waited, then failed (a write was applied all the same). */
export class InjectedTimeoutError extends InjectedFaultError {
  override readonly code = 'E_INJECTED_TIMEOUT';
}

/** An injected partial outage: a key in the failing share of the key space was touched. */
export class InjectedOutageError extends InjectedFaultError {
  override readonly code = 'E_INJECTED_OUTAGE';
}

/** The kinds of calls a rate can be given for. */
export const CallKind = {
  read: 'read',
  scan: 'scan',
  write: 'write',
  changes: 'changes',
} as const;
export type CallKind = (typeof CallKind)[keyof typeof CallKind];
export const CALL_KINDS: readonly CallKind[] = Object.values(CallKind);

/** A probability per kind of call (absent: 0). */
export type RatePerKind = Partial<Record<CallKind, number>>;

export interface OutageOptions {
  /** the share of the key space that fails, 0..1 (keys chosen by a hash of seed and key) */
  share: number;
  /** when it starts, ms after the wrapper's first call */
  fromMs: number;
  /** how long it lasts, ms */
  forMs: number;
}

export interface FaultOptions {
  /** probability that a call fails before reaching the store */
  failRate?: number;
  /** probability per kind of call that it fails before reaching the store (after failRate) */
  failRates?: RatePerKind;
  /** probability that a write is applied but its result is replaced by an error */
  lostAckRate?: number;
  /** probability that a call fails as throttled (before reaching the store) */
  throttleRate?: number;
  /** probability per kind of call that it times out: waits `timeoutMs`, then fails */
  timeoutRates?: RatePerKind;
  /** how long a timed-out call waits before failing, ms (default DEFAULT_TIMEOUT_MS) */
  timeoutMs?: number;
  /** a share of the key space that fails for a while */
  outage?: OutageOptions;
  /** probability that a scan continuing a cursor (not starting one) refuses it, as a Redis
   * server does after a restart: CursorInvalidatedError, nothing read */
  invalidCursorRate?: number;
  /** added latency per call, ms: a number or [min, max] */
  latencyMs?: number | [number, number];
  seed?: number;
  /** which collections are affected (default: all but the `_sy_` state collections) */
  affects?: (collection: string) => boolean;
  /** the clock the outage window is measured with (default Date.now) */
  now?: () => number;
}

export const DEFAULT_TIMEOUT_MS = 250;

export interface FaultStats {
  calls: number;
  failures: number;
  lostAcks: number;
  throttled: number;
  timeouts: number;
  outages: number;
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
    timeouts: 0,
    outages: 0,
    invalidatedCursors: 0,
  };
  readonly #random: () => number;
  readonly #now: () => number;
  #startedAt: number | undefined;
  enabled = true;

  constructor(
    readonly inner: Store,
    readonly options: FaultOptions,
  ) {
    this.kind = inner.kind;
    this.url = inner.url;
    this.#random = rng(options.seed ?? 1);
    this.#now = options.now ?? Date.now;
    if (inner.keepsFieldOrder !== undefined) this.keepsFieldOrder = inner.keepsFieldOrder;
    if (inner.writeAtomic !== undefined) {
      const atomic = inner.writeAtomic.bind(inner);
      // the guard (a lease: engine/runner/fencing.ts) goes through: chaos must not unfence writes
      this.writeAtomic = async (batches, guard) => {
        const touched = batches.filter((b) => this.#affects(b.collection));
        if (touched.length === 0) return atomic(batches, guard);
        const keys = touched.flatMap((b) => b.ops.map((op) => op.key));
        return this.around(CallKind.write, 'write', keys, () => atomic(batches, guard));
      };
    }
  }

  readonly keepsFieldOrder?: boolean;
  readonly writeAtomic?: Store['writeAtomic'];

  #affects(name: string): boolean {
    return (this.options.affects ?? ((n: string) => !n.startsWith('_sy_')))(name);
  }

  collection(name: string): Collection {
    const c = this.inner.collection(name);
    return this.#affects(name) ? faultyCollection(this, c) : c;
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

  /** @internal a draw, only when the fault is on (rules: adding a fault keeps the other draws) */
  #hit(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.#random() < rate;
  }

  /** @internal */
  async before(what: string, kind?: CallKind): Promise<void> {
    this.stats.calls += 1;
    this.#startedAt ??= this.#now();
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
    if (kind !== undefined && this.#hit(this.options.failRates?.[kind])) {
      this.stats.failures += 1;
      throw new InjectedFaultError(`injected: ${what} failed`);
    }
  }

  /** @internal whether this call times out (decided before it is made) */
  timesOut(kind: CallKind): boolean {
    return this.enabled && this.#hit(this.options.timeoutRates?.[kind]);
  }

  /** @internal wait out a timeout, then fail */
  async timeout(what: string, applied: boolean): Promise<never> {
    const ms = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    await new Promise((r) => setTimeout(r, ms));
    this.stats.timeouts += 1;
    throw new InjectedTimeoutError(
      `injected: ${what} timed out after ${ms} ms${applied ? ' (it was applied)' : ''}`,
    );
  }

  /** True while the outage lasts, for a key in its share of the key space. */
  inOutage(key: Key): boolean {
    const o = this.options.outage;
    if (o === undefined || !this.enabled || this.#startedAt === undefined) return false;
    const t = this.#now() - this.#startedAt;
    if (t < o.fromMs || t >= o.fromMs + o.forMs) return false;
    return keyShare(this.options.seed ?? 1, key) < o.share;
  }

  /** @internal */
  checkOutage(what: string, keys: readonly Key[]): void {
    const down = keys.find((k) => this.inOutage(k));
    if (down === undefined) return;
    this.stats.outages += 1;
    throw new InjectedOutageError(`injected: ${what} failed: the partition of '${down}' is down`);
  }

  /** @internal the faults around one call that names its keys (reads of keys, writes) */
  async around<T>(
    kind: CallKind,
    what: string,
    keys: readonly Key[],
    call: () => Promise<T>,
  ): Promise<T> {
    await this.before(what, kind);
    this.checkOutage(what, keys);
    const timesOut = this.timesOut(kind);
    if (timesOut && kind !== CallKind.write) return this.timeout(what, false);
    const result = await call();
    if (timesOut) return this.timeout(what, true);
    if (kind === CallKind.write) this.afterWrite();
    return result;
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

/** Where a key falls in the key space for an outage, 0..1: a hash of the seed and the key. */
export function keyShare(seed: number, key: Key): number {
  return createHash('sha1').update(`${seed}:${key}`).digest().readUInt32BE(0) / 4294967296;
}

/** The collection with faults around each call; optional abilities kept where the store has them. */
function faultyCollection(store: FaultyStore, inner: Collection): Collection {
  const scanned = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    await store.before(what, CallKind.scan);
    return store.timesOut(CallKind.scan) ? store.timeout(what, false) : call();
  };
  const c: Collection = {
    get name() {
      return inner.name;
    },
    get capabilities() {
      return inner.capabilities;
    },
    get: (key) => store.around(CallKind.read, 'get', [key], () => inner.get(key)),
    getMany: (keys) => store.around(CallKind.read, 'getMany', keys, () => inner.getMany(keys)),
    scan: async (options: ScanOptions): Promise<ScanPage> => {
      await store.before('scan', CallKind.scan);
      store.beforeScan(options);
      if (store.timesOut(CallKind.scan)) return store.timeout('scan', false);
      const page = await inner.scan(options);
      // a page that reaches into the failing share fails as the whole call would
      store.checkOutage(
        'scan',
        page.items.map((i) => i.key),
      );
      return page;
    },
    split: (n: number): Promise<Range[]> => scanned('split', () => inner.split(n)),
    write: (ops: readonly WriteOp[]): Promise<WriteResult[]> =>
      store.around(
        CallKind.write,
        'write',
        ops.map((op) => op.key),
        () => inner.write(ops),
      ),
    count: (range?: Range): Promise<number> => scanned('count', () => inner.count(range)),
  };
  if (inner.find !== undefined) {
    const find = inner.find.bind(inner);
    c.find = async (filter, limit): Promise<StoredDoc[]> => {
      const found = await scanned('find', () => find(filter, limit));
      store.checkOutage(
        'find',
        found.map((d) => d.key),
      );
      return found;
    };
  }
  if (inner.changes !== undefined) {
    const changes = inner.changes.bind(inner);
    c.changes = async (position, limit): Promise<{ changes: Change[]; position: string }> => {
      await store.before('changes', CallKind.changes);
      if (store.timesOut(CallKind.changes)) return store.timeout('changes', false);
      return changes(position, limit);
    };
  }
  for (const name of [
    'consumedCapacity',
    'provisionedCapacity',
    'estimatePass',
    'requireExists',
  ] as const) {
    const f = inner[name];
    if (f !== undefined) Object.assign(c, { [name]: f.bind(inner) });
  }
  return c;
}
