/**
 * Catch-up's one unit of work, the source's change feed, as the runner sees a partition
 * (runner/job.ts `Units`): one state document per migration in `_sy_catchup` (key: the migration
 * id) that is at the same time its lease (owner, host, pid, expiry, token: state/lease.ts), its
 * checkpoint (the feed position to resume after) and its counters. The document keeps the shape
 * `status`, the dashboard and the backfill read (`CatchupState`); this file maps it to and from
 * the runner's `PartitionState` (cursor = position; counts: changes as scanned, applied as
 * migrated, errors; `data`: deleted, rechecks, caught-up time, lag).
 *
 * Rules:
 * - The document is created on a first start with the position "from now" that the job's plan
 *   asked of the feed, with "must be absent", before anything is applied: of two processes
 *   starting at once one wins, the other gives its place in the feed back and uses the winner's.
 * - A released document (`catchup --release`, or the migration completed) is deleted and created
 *   again from now, as on a first start.
 * - Taking the lease, every checkpoint and the release are writes conditional on the rev this
 *   process last read or wrote (fencing: a process whose lease was taken finds a conflict).
 * - A release records why the run ended (`stopReason`) and marks it not running.
 */
import type { Doc } from '../../../core/values.js';
import {
  heldBy,
  LeaseLostError,
  leaseFree,
  releasedLease,
  takeLease,
  writeOwnUnit,
  type WorkerIdentity,
} from '../../../state/lease.js';
import type {
  Lease,
  PartitionCounts,
  PartitionState,
  PlanOptions,
  PlanState,
} from '../../../state/partitions.js';
import type { Collection, Range, Store } from '../../../store/contract.js';
import type { Units } from '../../runner/job.js';

export const CATCHUP_COLLECTION = '_sy_catchup';

/** What `status`, the dashboard and the catalog show of a catch-up. */
export interface CatchupProgress {
  running: boolean;
  worker: string | null;
  /** change events read */
  changes: number;
  /** target documents written with up(doc) */
  applied: number;
  /** target documents deleted (the source had none) */
  deleted: number;
  /** documents whose up() threw (in the dead letters) */
  errors: number;
  /** deleted keys applied again after a backfill */
  rechecked: number;
  /** deleted keys waiting for the backfill to finish (at most this many) */
  pendingRechecks: number;
  /** when the feed was last read to its end (ISO 8601), null before */
  caughtUpAt: string | null;
  /** how far behind the source the target may be, ms: 0 when the last read drained the feed */
  lagMs: number;
  updatedAt: string;
}

export interface CatchupState extends CatchupProgress {
  id: string;
  /** resume after this feed position (opaque, the store's) */
  position: string;
  startedAt: string;
  owner: string | null;
  host: string | null;
  pid: number | null;
  /** epoch ms */
  expiresAt: number;
  /** fencing token: +1 on every change of owner */
  token: number;
  stoppedAt?: string;
  stopReason?: string;
  /** the feed position was given back (stage complete): this catch-up is over */
  released?: boolean;
}

/** What a catch-up keeps besides its position and counts (its unit's `data`). */
export interface CatchupData {
  deleted: number;
  rechecked: number;
  pendingRechecks: number;
  caughtUpAt: string | null;
  lagMs: number;
  /** when the catch-up first started (read only: the lag before the feed was first drained) */
  startedAt: string;
}

/** The catch-up state of a migration, or null when catch-up never started. */
export async function catchupState(
  stateStore: Store,
  migrationId: string,
): Promise<CatchupState | null> {
  const found = await stateStore.collection(CATCHUP_COLLECTION).get(migrationId);
  return found === null ? null : (found.doc as unknown as CatchupState);
}

/** Has catch-up been started for the migration (its start position saved)? */
export async function catchupStarted(stateStore: Store, migrationId: string): Promise<boolean> {
  const s = await catchupState(stateStore, migrationId);
  return s !== null && s.released !== true;
}

/** The progress part of a state document. */
export function progressOf(s: CatchupState): CatchupProgress {
  return {
    running: s.running,
    worker: s.owner,
    changes: s.changes,
    applied: s.applied,
    deleted: s.deleted,
    errors: s.errors,
    rechecked: s.rechecked,
    pendingRechecks: s.pendingRechecks,
    caughtUpAt: s.caughtUpAt,
    lagMs: s.lagMs,
    updatedAt: s.updatedAt,
  };
}

/** The progress of a catch-up that has applied nothing yet. */
export function nothingYet(now = Date.now()): CatchupProgress {
  return {
    running: false,
    worker: null,
    changes: 0,
    applied: 0,
    deleted: 0,
    errors: 0,
    rechecked: 0,
    pendingRechecks: 0,
    caughtUpAt: null,
    lagMs: 0,
    updatedAt: new Date(now).toISOString(),
  };
}

const FEED_RANGE: Range = { id: 'feed' };

export class FeedUnit implements Units {
  readonly #c: Collection;
  readonly #id: string;
  readonly #ttl: number;
  readonly #discard: (position: string) => Promise<void>;
  /** the document as this process last read or wrote it (what a checkpoint writes over) */
  #doc: CatchupState | undefined;
  /** this process created the document (a first start, not a resumption) */
  created = false;

  constructor(
    stateStore: Store,
    migrationId: string,
    o: { ttlMs: number; discard: (position: string) => Promise<void> },
  ) {
    this.#c = stateStore.collection(CATCHUP_COLLECTION);
    this.#id = migrationId;
    this.#ttl = o.ttlMs;
    this.#discard = o.discard;
  }

  get ttlMs(): number {
    return this.#ttl;
  }

  /** The plan: the one unit, its document created from the plan's `params.position` if absent. */
  async ensurePlanWith(
    job: string,
    make: () => Promise<{ ranges: Range[]; params?: Record<string, unknown> }>,
    _options: PlanOptions,
  ): Promise<PlanState> {
    for (;;) {
      const current = await this.#c.get(this.#id);
      if (current !== null) {
        const s = current.doc as unknown as CatchupState;
        if (s.released !== true) return this.#plan(job, s);
        // released earlier (--release): start again from now, as on a first start
        await this.#c.write([{ type: 'delete', key: this.#id, ifRev: current.rev }]);
        continue;
      }
      const { params } = await make();
      const position = String(params?.position);
      const now = Date.now();
      const fresh: CatchupState = {
        id: this.#id,
        position,
        startedAt: new Date(now).toISOString(),
        owner: null,
        host: null,
        pid: null,
        expiresAt: 0,
        token: 0,
        ...nothingYet(now),
      };
      const [res] = await this.#c.write([
        { type: 'put', key: this.#id, doc: toDoc(fresh), ifRev: null },
      ]);
      if (res?.ok) {
        this.created = true;
        return this.#plan(job, fresh);
      }
      // another process started at the same moment: give this place in the feed back, use theirs
      await this.#discard(position).catch(() => undefined);
    }
  }

  async states(ids: readonly string[]): Promise<PartitionState[]> {
    if (!ids.includes(this.#id)) return [];
    const found = await this.#c.get(this.#id);
    const s = found?.doc as unknown as CatchupState | undefined;
    // released under this run: its plan is gone (the runner stops, as for a replaced plan)
    return s === undefined || s.released === true ? [] : [toPartition(s)];
  }

  async tryAcquire(id: string, worker: WorkerIdentity, now = Date.now()): Promise<Lease | null> {
    const current = await this.#c.get(id);
    if (current === null) return null;
    const s = current.doc as unknown as CatchupState;
    if (s.released === true) return null;
    if (!heldBy(s, worker) && !leaseFree(s, worker, now)) return null;
    const next: CatchupState = {
      ...s,
      ...takeLease(s, worker, now, this.#ttl),
      running: true,
      worker: worker.id,
      updatedAt: new Date(now).toISOString(),
    };
    delete next.stoppedAt;
    delete next.stopReason;
    return this.#write(next, current.rev, false);
  }

  async checkpoint(
    lease: Lease,
    update: Partial<Pick<PartitionState, 'cursor' | 'done' | 'counts' | 'data'>>,
    now = Date.now(),
  ): Promise<Lease> {
    const p = { ...lease.state, ...update };
    const next: CatchupState = {
      ...this.#doc!,
      ...fromPartition(p),
      expiresAt: now + this.#ttl,
      updatedAt: new Date(now).toISOString(),
    };
    const written = await this.#write(next, lease.rev, true);
    return written!;
  }

  async release(lease: Lease, why?: string): Promise<void> {
    const now = Date.now();
    const next: CatchupState = {
      ...this.#doc!,
      ...releasedLease(lease.state),
      running: false,
      stoppedAt: new Date(now).toISOString(),
      stopReason: why ?? 'stopped',
      updatedAt: new Date(now).toISOString(),
    };
    await this.#write(next, lease.rev, false);
  }

  /** `fenced`: a checkpoint, written again when refused but still this worker's (state/lease.ts) */
  async #write(next: CatchupState, rev: string, fenced: boolean): Promise<Lease | null> {
    const written = await writeOwnUnit(this.#c, this.#id, toDoc(next), rev, fenced ? 3 : 1);
    if (written === null) {
      if (fenced)
        throw new LeaseLostError(
          `lost the catch-up lease of ${this.#id}: another process took it over`,
        );
      return null;
    }
    this.#doc = next;
    return { state: toPartition(next), rev: written };
  }

  #plan(job: string, s: CatchupState): PlanState {
    return { id: `${job}/plan`, job, partitions: [this.#id], createdAt: Date.parse(s.startedAt) };
  }
}

/** The runner's view of the state document. */
function toPartition(s: CatchupState): PartitionState {
  const counts: PartitionCounts = {
    scanned: s.changes,
    migrated: s.applied,
    skipped: 0,
    conflicts: 0,
    errors: s.errors,
  };
  const data: CatchupData = {
    deleted: s.deleted,
    rechecked: s.rechecked,
    pendingRechecks: s.pendingRechecks,
    caughtUpAt: s.caughtUpAt,
    lagMs: s.lagMs,
    startedAt: s.startedAt,
  };
  return {
    id: s.id,
    job: s.id,
    range: FEED_RANGE,
    index: 0,
    cursor: s.position,
    done: false,
    counts,
    data: { ...data },
    owner: s.owner,
    host: s.host,
    pid: s.pid,
    expiresAt: Number(s.expiresAt),
    token: s.token,
    updatedAt: Date.parse(s.updatedAt),
  };
}

/** What a checkpoint changes in the state document. */
function fromPartition(p: PartitionState): Partial<CatchupState> {
  const d = p.data as Partial<CatchupData> | undefined;
  return {
    ...(p.cursor !== null ? { position: p.cursor } : {}),
    changes: p.counts.scanned,
    applied: p.counts.migrated,
    errors: p.counts.errors,
    ...(d !== undefined
      ? {
          deleted: d.deleted ?? 0,
          rechecked: d.rechecked ?? 0,
          pendingRechecks: d.pendingRechecks ?? 0,
          caughtUpAt: d.caughtUpAt ?? null,
          lagMs: d.lagMs ?? 0,
        }
      : {}),
  };
}

function toDoc(v: object): Doc {
  return JSON.parse(JSON.stringify(v)) as Doc;
}
