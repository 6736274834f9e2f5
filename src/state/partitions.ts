/**
 * Partitions of a long job (backfill, verify, rollback): each is one document in `_sy_partitions`
 * that is at the same time the partition's lease (owner, expiry, fencing token: state/lease.ts),
 * its checkpoint (the scan cursor after the last committed batch), its counters and what the job
 * keeps per partition besides (`data`: verify's accumulators, rollback's counts).
 *
 * Resume rules (relied on by engine/runner/runner.ts):
 * - The plan (the list of ranges, and the job's parameters) is written once per run with "must be
 *   absent"; every worker uses the same ranges and parameters, however many start at once. The
 *   partitions are written before the plan, so a plan that exists always has its partitions.
 * - A lease is taken with one conditional write on the partition document's rev. Only one
 *   worker can win; the token goes up by one on every change of owner.
 * - Every checkpoint is a write conditional on the rev the worker last wrote. A worker whose lease
 *   was taken over finds a conflict at its next checkpoint and stops (fencing). Its batch writes
 *   carry the same rev as a guard where the store commits atomically (`fence`), so they do not
 *   land either; elsewhere they are conditional on document revs, so they cannot overwrite
 *   anything newer.
 * - A job that ends marks its plan finished, once (a conditional write: the worker that wins is
 *   the one that records the result; the others read it). A finished plan is replaced by the
 *   next run that asks for it (`restart`); an unfinished one is joined and resumed. A worker
 *   reads the partitions of the plan it started with, by id: a plan replaced under it reads as
 *   gone, never as someone else's work.
 */
import { randomBytes } from 'node:crypto';
import type { Doc } from '../core/values.js';
import type { Collection, Range, Rev, Store, WriteGuard } from '../store/contract.js';
import {
  DEFAULT_LEASE_TTL_MS,
  heldBy,
  LeaseLostError,
  leaseFree,
  releasedLease,
  sameHolder,
  takeLease,
  writeOwnUnit,
  type LeaseFields,
  type WorkerIdentity,
} from './lease.js';

export const PARTITIONS_COLLECTION = '_sy_partitions';
export { DEFAULT_LEASE_TTL_MS };

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

export interface PartitionState extends LeaseFields {
  /** `${job}/${plan nonce}/${index}` */
  id: string;
  job: string;
  range: Range;
  index: number;
  /** where the scan continues; null before the first batch */
  cursor: string | null;
  done: boolean;
  counts: PartitionCounts;
  /** what a pass keeps per partition besides the counts (verify: samples, path counts) */
  data?: Record<string, unknown>;
  updatedAt: number;
}

export interface PlanState {
  id: string;
  job: string;
  /** differs for every plan of the job */
  nonce?: string;
  partitions: string[];
  /** what every worker of the run uses, decided by the worker that made the plan */
  params?: Record<string, unknown>;
  createdAt: number;
  /** set once, by the worker that ended the run (finishPlan) */
  finished?: { at: number; by: string; result?: Record<string, unknown>; mark?: string };
}

export const ZERO_COUNTS: PartitionCounts = {
  scanned: 0,
  migrated: 0,
  skipped: 0,
  conflicts: 0,
  errors: 0,
};

export function addCounts(a: PartitionCounts, b: Partial<PartitionCounts>): PartitionCounts {
  return {
    scanned: a.scanned + (b.scanned ?? 0),
    migrated: a.migrated + (b.migrated ?? 0),
    skipped: a.skipped + (b.skipped ?? 0),
    conflicts: a.conflicts + (b.conflicts ?? 0),
    errors: a.errors + (b.errors ?? 0),
  };
}

/** A lease held by this worker: the partition as last written, and the rev to write against. */
export interface Lease {
  state: PartitionState;
  rev: Rev;
}

export interface PlanOptions {
  /** an existing plan that must be replaced by a new one (a finished verify) */
  restart?: (plan: PlanState) => boolean;
}

export class Partitions {
  readonly #store: Store;
  readonly #c: Collection;
  readonly #ttl: number;

  constructor(stateStore: Store, options: { leaseTtlMs?: number } = {}) {
    this.#store = stateStore;
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
    return (await this.ensurePlanWith(job, async () => ({ ranges: await ranges() }))).partitions;
  }

  /** The same, with the parameters the planner decides for everyone (`make` runs for a planner). */
  async ensurePlanWith(
    job: string,
    make: () => Promise<{ ranges: Range[]; params?: Record<string, unknown> }>,
    options: PlanOptions = {},
  ): Promise<PlanState> {
    const planKey = `${job}/plan`;
    for (;;) {
      const existing = await this.#c.get(planKey);
      if (existing !== null) {
        const plan = existing.doc as unknown as PlanState;
        if (options.restart?.(plan) !== true) return plan;
        // replace it: the plan first (conditionally: one replacer wins), then its partitions
        const [gone] = await this.#c.write([{ type: 'delete', key: planKey, ifRev: existing.rev }]);
        if (gone?.ok) await this.#deleteAll(plan.partitions);
        continue;
      }
      const { ranges, params } = await make();
      // a nonce per plan: two workers planning at once never write the same partition id
      const nonce = randomBytes(4).toString('hex');
      const ids = ranges.map((_r, i) => `${job}/${nonce}/${String(i + 1).padStart(4, '0')}`);
      // partitions first, then the plan: a plan that exists always has its partitions
      await this.#c.write(
        ranges.map((range, index) => ({
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
          } satisfies PartitionState),
          ifRev: null,
        })),
      );
      const plan: PlanState = {
        id: planKey,
        job,
        nonce,
        partitions: ids,
        ...(params !== undefined ? { params } : {}),
        createdAt: Date.now(),
      };
      const [res] = await this.#c.write([
        { type: 'put', key: planKey, doc: toDoc(plan), ifRev: null },
      ]);
      if (res?.ok) return plan;
      // another worker planned first (with its own split): use its plan
      await this.#deleteAll(ids);
    }
  }

  async plan(job: string): Promise<PlanState | null> {
    const found = await this.#c.get(`${job}/plan`);
    return found === null ? null : (found.doc as unknown as PlanState);
  }

  async list(job: string): Promise<PartitionState[]> {
    const plan = await this.plan(job);
    return plan === null ? [] : this.states(plan.partitions);
  }

  /** The partitions with these ids, in order; a deleted one (its plan was replaced) is left out. */
  async states(ids: readonly string[]): Promise<PartitionState[]> {
    const got = await this.#c.getMany(ids);
    return got.filter((g) => g !== null).map((g) => g!.doc as unknown as PartitionState);
  }

  /**
   * Mark the plan finished with its result, once. `won` tells whether this call did it (and so
   * should record the result); otherwise `plan` is the one finished by another worker, or null
   * when the plan was replaced meanwhile. `mark`, made once by the caller, makes it safe to call
   * again after a failure: a finish that applied although its acknowledgement was lost carries
   * the caller's own mark, and is still won.
   */
  async finishPlan(
    plan: PlanState,
    by: string,
    result?: Record<string, unknown>,
    mark?: string,
  ): Promise<{ won: boolean; plan: PlanState | null }> {
    const key = `${plan.job}/plan`;
    for (;;) {
      const current = await this.#c.get(key);
      const now = current?.doc as unknown as PlanState | undefined;
      if (current === null || now === undefined || now.nonce !== plan.nonce)
        return { won: false, plan: null };
      if (now.finished !== undefined)
        return { won: mark !== undefined && now.finished.mark === mark, plan: now };
      const next: PlanState = {
        ...now,
        finished: {
          at: Date.now(),
          by,
          ...(result !== undefined ? { result } : {}),
          ...(mark !== undefined ? { mark } : {}),
        },
      };
      const [res] = await this.#c.write([
        { type: 'put', key, doc: toDoc(next), ifRev: current.rev },
      ]);
      if (res?.ok) return { won: true, plan: next };
    }
  }

  /** Try to take the lease of one partition; null when someone else holds it or it is done. */
  async tryAcquire(id: string, worker: WorkerIdentity, now = Date.now()): Promise<Lease | null> {
    const current = await this.#c.get(id);
    if (current === null) return null;
    const p = current.doc as unknown as PartitionState;
    if (p.done) return null;
    if (!heldBy(p, worker) && !leaseFree(p, worker, now)) return null;
    const next: PartitionState = {
      ...p,
      ...takeLease(p, worker, now, this.#ttl),
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
    const rev = await writeOwnUnit(this.#c, lease.state.id, toDoc(next), lease.rev);
    if (rev === null)
      throw new LeaseLostError(
        `lost the lease of partition ${lease.state.id} (taken over by another worker)`,
      );
    return { state: next, rev };
  }

  /**
   * The lease read again after a write it guarded was refused: at the rev the store has when the
   * partition is still this worker's (lease.ts: `sameHolder`), else null (taken over).
   */
  async reclaim(lease: Lease): Promise<Lease | null> {
    const current = await this.#c.get(lease.state.id);
    if (current === null) return null;
    const stored = current.doc as unknown as PartitionState;
    return sameHolder(stored, lease.state) ? { state: lease.state, rev: current.rev } : null;
  }

  /**
   * The lease as a precondition of a write to this store (engine/runner/fencing.ts): the
   * partition document is still at the rev this worker last wrote.
   */
  fence(lease: Lease): { store: Store; guard: WriteGuard } {
    return {
      store: this.#store,
      guard: { collection: PARTITIONS_COLLECTION, key: lease.state.id, rev: lease.rev },
    };
  }

  /** Give the lease back (the partition stays where it is, for anyone to continue). */
  async release(lease: Lease): Promise<void> {
    const next: PartitionState = {
      ...lease.state,
      ...releasedLease(lease.state),
      updatedAt: Date.now(),
    };
    await this.#c.write([{ type: 'put', key: lease.state.id, doc: toDoc(next), ifRev: lease.rev }]);
  }

  /** Forget a job's partitions entirely (after a rollback, so a new run starts from scratch). */
  async clear(job: string): Promise<void> {
    const plan = await this.plan(job);
    if (plan === null) return;
    await this.#deleteAll([...plan.partitions, `${job}/plan`]);
  }

  async #deleteAll(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#c.write(keys.map((key) => ({ type: 'delete' as const, key })));
  }
}

function toDoc(v: object): Doc {
  return JSON.parse(JSON.stringify(v)) as Doc;
}
