/**
 * Partitions of a backfill (or any long pass): each is one document in `_sy_partitions` that is
 * at the same time the partition's lease (owner, expiry, fencing token), its checkpoint (the scan
 * cursor after the last committed batch) and its counters.
 *
 * Resume rules (relied on by engine/backfill.ts):
 * - The plan (the list of ranges) is written once per run with "must be absent"; every worker
 *   uses the same ranges, however many start at once.
 * - A lease is taken with one conditional write on the partition document's rev. Only one
 *   worker can win; the token goes up by one on every change of owner.
 * - A lease is free when unowned, expired, or owned by a process of this host that no longer
 *   exists (taken over at once, without waiting for the TTL).
 * - Every checkpoint is a write conditional on the rev the worker last wrote. A worker whose lease
 *   was taken over finds a conflict at its next checkpoint and stops (fencing). Its last batch of
 *   data writes was conditional on document revs, so it cannot overwrite anything newer.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Doc } from '../core/values.js';
import type { Collection, Range, Rev, Store } from '../store/contract.js';

export const PARTITIONS_COLLECTION = '_sy_partitions';
export const DEFAULT_LEASE_TTL_MS = 15_000;

export interface PartitionCounts {
  /** documents read */
  scanned: number;
  /** documents transformed and written */
  migrated: number;
  /** already at the target version */
  skipped: number;
  /** conditional writes that found the document changed (each re-read and retried) */
  conflicts: number;
  /** documents sent to dead letters */
  errors: number;
}

export interface PartitionState {
  /** `${job}/${plan nonce}/${index}` */
  id: string;
  job: string;
  range: Range;
  index: number;
  /** where the scan continues; null before the first batch */
  cursor: string | null;
  done: boolean;
  owner: string | null;
  host: string | null;
  pid: number | null;
  /** epoch ms */
  expiresAt: number;
  /** fencing token: +1 on every change of owner */
  token: number;
  counts: PartitionCounts;
  /** what a pass keeps per partition besides the counts (verify: samples, path counts) */
  data?: Record<string, unknown>;
  updatedAt: number;
}

export interface PlanState {
  id: string;
  job: string;
  partitions: string[];
  createdAt: number;
}

export const ZERO_COUNTS: PartitionCounts = {
  scanned: 0,
  migrated: 0,
  skipped: 0,
  conflicts: 0,
  errors: 0,
};

export interface WorkerIdentity {
  id: string;
  host: string;
  pid: number;
}

export function defaultWorker(id?: string): WorkerIdentity {
  return { id: id ?? `${os.hostname()}:${process.pid}`, host: os.hostname(), pid: process.pid };
}

/** A lease held by this worker: the partition as last written, and the rev to write against. */
export interface Lease {
  state: PartitionState;
  rev: Rev;
}

export class LeaseLostError extends Error {
  readonly code = 'E_LEASE_LOST';
}

/** Whether a process of this host exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Partitions {
  readonly #c: Collection;
  readonly #ttl: number;

  constructor(stateStore: Store, options: { leaseTtlMs?: number } = {}) {
    this.#c = stateStore.collection(PARTITIONS_COLLECTION);
    this.#ttl = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  }

  get ttlMs(): number {
    return this.#ttl;
  }

  /**
   * The job's partitions: created from `ranges()` by the first caller, read by everyone after.
   * Returns the partition ids in order.
   */
  async ensurePlan(job: string, ranges: () => Promise<Range[]>): Promise<string[]> {
    const planKey = `${job}/plan`;
    const existing = await this.#c.get(planKey);
    if (existing !== null) return (existing.doc as unknown as PlanState).partitions;
    const list = await ranges();
    // a nonce per plan: two workers planning at once never write the same partition id
    const nonce = randomBytes(4).toString('hex');
    const ids = list.map((_r, i) => `${job}/${nonce}/${String(i + 1).padStart(4, '0')}`);
    // partitions first, then the plan: a plan that exists always has its partitions
    await this.#c.write(
      list.map((range, index) => ({
        type: 'put' as const,
        key: ids[index]!,
        doc: toDoc({
          id: ids[index]!,
          job,
          range,
          index,
          cursor: null,
          done: false,
          owner: null,
          host: null,
          pid: null,
          expiresAt: 0,
          token: 0,
          counts: { ...ZERO_COUNTS },
          updatedAt: Date.now(),
        }),
        ifRev: null,
      })),
    );
    const plan: PlanState = { id: planKey, job, partitions: ids, createdAt: Date.now() };
    const [res] = await this.#c.write([
      { type: 'put', key: planKey, doc: toDoc(plan), ifRev: null },
    ]);
    if (res?.ok) return ids;
    // another worker planned first (with its own split): use its plan
    const theirs = (await this.#c.get(planKey))!.doc as unknown as PlanState;
    const stray = ids.filter((id) => !theirs.partitions.includes(id));
    if (stray.length > 0)
      await this.#c.write(stray.map((key) => ({ type: 'delete' as const, key })));
    return theirs.partitions;
  }

  async list(job: string): Promise<PartitionState[]> {
    const plan = await this.#c.get(`${job}/plan`);
    if (plan === null) return [];
    const ids = (plan.doc as unknown as PlanState).partitions;
    const got = await this.#c.getMany(ids);
    return got.filter((g) => g !== null).map((g) => g!.doc as unknown as PartitionState);
  }

  /** Try to take the lease of one partition; null when someone else holds it or it is done. */
  async tryAcquire(id: string, worker: WorkerIdentity, now = Date.now()): Promise<Lease | null> {
    const current = await this.#c.get(id);
    if (current === null) return null;
    const p = current.doc as unknown as PartitionState;
    if (p.done) return null;
    const mine = p.owner === worker.id && p.pid === worker.pid && p.host === worker.host;
    const free =
      p.owner === null ||
      p.expiresAt <= now ||
      (p.host === worker.host && p.pid !== null && p.pid !== worker.pid && !processAlive(p.pid));
    if (!mine && !free) return null;
    const next: PartitionState = {
      ...p,
      owner: worker.id,
      host: worker.host,
      pid: worker.pid,
      expiresAt: now + this.#ttl,
      token: mine ? p.token : p.token + 1,
      updatedAt: now,
    };
    const [res] = await this.#c.write([
      { type: 'put', key: id, doc: toDoc(next), ifRev: current.rev },
    ]);
    return res?.ok ? { state: next, rev: res.rev! } : null;
  }

  /**
   * Save progress (and renew the lease). Throws LeaseLostError when the partition was changed by
   * someone else since this worker last wrote it.
   */
  async checkpoint(
    lease: Lease,
    update: Partial<Pick<PartitionState, 'cursor' | 'done' | 'counts' | 'data'>>,
    now = Date.now(),
  ): Promise<Lease> {
    const next: PartitionState = {
      ...lease.state,
      ...update,
      expiresAt: now + this.#ttl,
      updatedAt: now,
    };
    const [res] = await this.#c.write([
      { type: 'put', key: lease.state.id, doc: toDoc(next), ifRev: lease.rev },
    ]);
    if (!res?.ok)
      throw new LeaseLostError(
        `lost the lease of partition ${lease.state.id} (taken over by another worker)`,
      );
    return { state: next, rev: res.rev! };
  }

  /** Give the lease back (the partition stays where it is, for anyone to continue). */
  async release(lease: Lease): Promise<void> {
    const next: PartitionState = {
      ...lease.state,
      owner: null,
      host: null,
      pid: null,
      expiresAt: 0,
      updatedAt: Date.now(),
    };
    await this.#c.write([{ type: 'put', key: lease.state.id, doc: toDoc(next), ifRev: lease.rev }]);
  }

  /** Forget a job's partitions entirely (after a rollback, so a new run starts from scratch). */
  async clear(job: string): Promise<void> {
    const plan = await this.#c.get(`${job}/plan`);
    if (plan === null) return;
    const ids = (plan.doc as unknown as PlanState).partitions;
    await this.#c.write([...ids, `${job}/plan`].map((key) => ({ type: 'delete' as const, key })));
  }
}

function toDoc(v: object): Doc {
  return JSON.parse(JSON.stringify(v)) as Doc;
}
