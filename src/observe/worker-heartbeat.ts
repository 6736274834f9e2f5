/**
 * Worker heartbeats: what only a running backfill process knows — its throttle (configured rate,
 * the adaptive factor, the effective rate, batch size), the capacity units it consumed (DynamoDB)
 * and how long its batches take — written to
 * the state store, so any process (the dashboard's /metrics) can read it.
 *
 * Why a document per worker (and not the catalog's progress, which every worker overwrites, or
 * the partition documents, which hold counts per range): the throttle and the latencies are per
 * process; one small document per (migration, worker), written by that worker only, keeps them
 * exact with any number of workers, and changes nothing in the engine: it is a listener on the
 * backfill's events (`batch` carries each batch's latency, `progress` the throttle, once a
 * second), attached by the CLI (and by anyone calling `backfill()` who wants it).
 *
 * Rules:
 * - `_sy_workers`, key `<migration>/<worker id>`, written unconditionally by that worker only:
 *   after each `progress` event (about once a second; one write at a time, the latest wins) and
 *   on close() (state `done`);
 * - the latency histogram is cumulative over fixed buckets (`BATCH_LATENCY_BUCKETS_S`, upper
 *   bounds in seconds, plus an open bucket): counts per bucket, their sum and count. A worker
 *   started again with the same --worker-id continues the counts it finds, so the sum over all
 *   documents of a migration only grows (a Prometheus counter);
 * - batches of `--retry-dead` (partition `dead-letters`) carry no latency and are not counted;
 * - a failed write is retried at the next progress event; heartbeats never fail the job;
 * - documents stay after the run (a few hundred bytes per worker process and migration); the
 *   throttle of a document not updated for `STALE_AFTER_MS` is not shown as live.
 */
import os from 'node:os';
import type { Doc } from '../core/values.js';
import type { BackfillEvent, BackfillProgress } from '../engine/backfill.js';
import type { Collection, Store } from '../store/contract.js';

export const WORKERS_COLLECTION = '_sy_workers';
/** batch latency bucket upper bounds, seconds (a batch is a scan page, its writes and a checkpoint) */
export const BATCH_LATENCY_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
/** a heartbeat older than this is a worker that is gone */
export const STALE_AFTER_MS = 15_000;

export interface LatencyHistogram {
  /** counts per bucket of BATCH_LATENCY_BUCKETS_S, plus the open one (not cumulative) */
  buckets: number[];
  /** seconds */
  sum: number;
  count: number;
}

export interface WorkerHeartbeatDoc {
  migration: string;
  pass: 'backfill';
  worker: string;
  host: string;
  pid: number;
  state: 'running' | 'done';
  /** ms since the epoch */
  startedAt: number;
  updatedAt: number;
  throttle: BackfillProgress['throttle'] | null;
  /** capacity units this run consumed and its budget (DynamoDB), absent elsewhere */
  capacity?: BackfillProgress['capacity'] | null;
  batchLatency: LatencyHistogram;
}

export function emptyHistogram(): LatencyHistogram {
  return {
    buckets: new Array<number>(BATCH_LATENCY_BUCKETS_S.length + 1).fill(0),
    sum: 0,
    count: 0,
  };
}

function observe(h: LatencyHistogram, seconds: number): void {
  let i = BATCH_LATENCY_BUCKETS_S.findIndex((le) => seconds <= le);
  if (i < 0) i = BATCH_LATENCY_BUCKETS_S.length;
  h.buckets[i] = (h.buckets[i] ?? 0) + 1;
  h.sum += seconds;
  h.count += 1;
}

/**
 * A number read back from the state store. Stores keep value types exactly (core/values.ts): an
 * integral number beyond 32 bits (epoch ms) comes back as a bson Double or Long object.
 */
export function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as { toNumber?: () => number; valueOf(): unknown };
  const n = typeof o.toNumber === 'function' ? o.toNumber() : o.valueOf();
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** a + b (b may come from an older document with other buckets: extra ones go to the open bucket) */
export function addHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const out = emptyHistogram();
  for (const h of [a, b])
    h.buckets.forEach((n, i) => {
      const at = Math.min(i, out.buckets.length - 1);
      out.buckets[at] = out.buckets[at]! + (asNumber(n) ?? 0);
    });
  out.sum = (asNumber(a.sum) ?? 0) + (asNumber(b.sum) ?? 0);
  out.count = (asNumber(a.count) ?? 0) + (asNumber(b.count) ?? 0);
  return out;
}

export class WorkerHeartbeat {
  readonly #c: Collection;
  readonly #migration: string;
  #worker: string | undefined;
  #base: Promise<LatencyHistogram> = Promise.resolve(emptyHistogram());
  readonly #local = emptyHistogram();
  #throttle: WorkerHeartbeatDoc['throttle'] = null;
  #capacity: WorkerHeartbeatDoc['capacity'] = null;
  readonly #startedAt = Date.now();
  #writing: Promise<void> | undefined;
  #dirty = false;
  #closed = false;

  constructor(stateStore: Store, migration: string) {
    this.#c = stateStore.collection(WORKERS_COLLECTION);
    this.#migration = migration;
  }

  /** Attach as (part of) the backfill's onEvent. Never throws. */
  readonly onEvent = (e: BackfillEvent): void => {
    switch (e.type) {
      case 'start':
        this.#worker = e.worker;
        this.#base = this.#loadBase();
        return;
      case 'batch':
        if (e.partition !== 'dead-letters') observe(this.#local, e.latencyMs / 1000);
        return;
      case 'progress':
        this.#throttle = e.progress.throttle;
        this.#capacity = e.progress.capacity ?? null;
        this.#kick('running');
        return;
      default:
        return;
    }
  };

  /** Write the last state (`done`) and wait for it. Never throws. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing !== undefined) await this.#writing;
    if (this.#worker !== undefined) await this.#write('done');
  }

  #key(): string {
    return `${this.#migration}/${this.#worker}`;
  }

  async #loadBase(): Promise<LatencyHistogram> {
    try {
      const found = await this.#c.get(this.#key());
      const h = (found?.doc as unknown as WorkerHeartbeatDoc | undefined)?.batchLatency;
      return h !== undefined && Array.isArray(h.buckets)
        ? addHistograms(emptyHistogram(), h)
        : emptyHistogram();
    } catch {
      return emptyHistogram();
    }
  }

  #kick(state: WorkerHeartbeatDoc['state']): void {
    if (this.#worker === undefined || this.#closed) return;
    if (this.#writing !== undefined) {
      this.#dirty = true;
      return;
    }
    this.#writing = this.#write(state).finally(() => {
      this.#writing = undefined;
      if (this.#dirty && !this.#closed) {
        this.#dirty = false;
        this.#kick(state);
      }
    });
  }

  async #write(state: WorkerHeartbeatDoc['state']): Promise<void> {
    try {
      const doc: WorkerHeartbeatDoc = {
        migration: this.#migration,
        pass: 'backfill',
        worker: this.#worker!,
        host: os.hostname(),
        pid: process.pid,
        state,
        startedAt: this.#startedAt,
        updatedAt: Date.now(),
        throttle: this.#throttle,
        ...(this.#capacity != null ? { capacity: this.#capacity } : {}),
        batchLatency: addHistograms(await this.#base, this.#local),
      };
      await this.#c.write([{ type: 'put', key: this.#key(), doc: doc as unknown as Doc }]);
    } catch {
      // the next progress event writes again
    }
  }
}

/** The document with plain numbers (epoch ms come back from the store as bson Doubles). */
function normalize(d: WorkerHeartbeatDoc): WorkerHeartbeatDoc {
  const n = (v: unknown) => asNumber(v) ?? 0;
  const t = d.throttle;
  const c = d.capacity;
  return {
    ...d,
    capacity:
      c == null
        ? null
        : {
            read: n(c.read),
            write: n(c.write),
            readBudget: n(c.readBudget),
            writeBudget: n(c.writeBudget),
          },
    pid: n(d.pid),
    startedAt: n(d.startedAt),
    updatedAt: n(d.updatedAt),
    throttle:
      t === null || t === undefined
        ? null
        : {
            rate: n(t.rate),
            effectiveRate: n(t.effectiveRate),
            factor: n(t.factor),
            batchSize: n(t.batchSize),
            concurrency: n(t.concurrency),
          },
    batchLatency: addHistograms(emptyHistogram(), d.batchLatency ?? emptyHistogram()),
  };
}

/**
 * Every heartbeat in the state store (one scan of a small collection), with plain numbers.
 */
export async function readWorkerHeartbeats(stateStore: Store): Promise<WorkerHeartbeatDoc[]> {
  const c = stateStore.collection(WORKERS_COLLECTION);
  const out: WorkerHeartbeatDoc[] = [];
  let cursor: string | null = null;
  do {
    const page = await c.scan({ cursor, limit: 500 });
    for (const item of page.items) out.push(normalize(item.doc as unknown as WorkerHeartbeatDoc));
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}
