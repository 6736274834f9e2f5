/**
 * Leases: who may work on a unit of a long job (a partition, a change feed) right now. A lease is
 * a few fields of the unit's own state document — owner, host, pid, expiry, fencing token — and
 * every change of it is one write conditional on that document's rev, so only one worker wins.
 *
 * Rules (state/partitions.ts and engine/catchup.ts both keep their leases by them):
 * - A lease is free when nobody owns it, when it expired, or when its owner is a process of this
 *   host that no longer exists (taken over at once, without waiting for the TTL).
 * - A worker owns a lease only with the same id, host and pid: a restarted process with the same
 *   --worker-id is a new owner (the token goes up).
 * - The token goes up by one on every change of owner; a worker that writes its unit again only
 *   with the rev it last wrote finds out at that write that it was taken over (fencing).
 */
import os from 'node:os';

export const DEFAULT_LEASE_TTL_MS = 15_000;

export interface WorkerIdentity {
  id: string;
  host: string;
  pid: number;
}

/** The lease fields of a unit's state document. */
export interface LeaseFields {
  owner: string | null;
  host: string | null;
  pid: number | null;
  /** epoch ms (may come back from a store as a bson Double: read it through Number()) */
  expiresAt: number;
  /** fencing token: +1 on every change of owner */
  token: number;
}

/** A worker's lease was taken over by another worker: it must stop writing that unit. */
export class LeaseLostError extends Error {
  readonly code = 'E_LEASE_LOST';
}

export function defaultWorker(id?: string): WorkerIdentity {
  return { id: id ?? `${os.hostname()}:${process.pid}`, host: os.hostname(), pid: process.pid };
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

export function heldBy(l: LeaseFields, w: WorkerIdentity): boolean {
  return l.owner === w.id && l.host === w.host && l.pid === w.pid;
}

/** A process of this host other than `w` that is gone. */
function deadHere(l: LeaseFields, w: WorkerIdentity): boolean {
  return l.host === w.host && l.pid !== null && l.pid !== w.pid && !processAlive(l.pid);
}

export function leaseFree(l: LeaseFields, w: WorkerIdentity, now: number): boolean {
  return l.owner === null || Number(l.expiresAt) <= now || deadHere(l, w);
}

/** The lease fields for `w` taking (or renewing) the lease. */
export function takeLease(
  l: LeaseFields,
  w: WorkerIdentity,
  now: number,
  ttlMs: number,
): LeaseFields {
  return {
    owner: w.id,
    host: w.host,
    pid: w.pid,
    expiresAt: now + ttlMs,
    token: heldBy(l, w) ? l.token : l.token + 1,
  };
}

/** The lease fields of a released lease (the token stays). */
export function releasedLease(l: LeaseFields): LeaseFields {
  return { owner: null, host: null, pid: null, expiresAt: 0, token: l.token };
}

/**
 * Who `w` took a lease over from, when the previous owner died or stalled (its lease had lapsed
 * when listed, or its process of this host is gone) — not one that released it or `w` itself.
 */
export function takenOverFrom(
  l: LeaseFields,
  w: WorkerIdentity,
  listedAt: number,
): { worker: string; host: string | null; pid: number | null; expiresAt: number } | undefined {
  if (l.owner === null || heldBy(l, w)) return undefined;
  const lapsed = Number(l.expiresAt) <= listedAt;
  const gone = l.host === w.host && l.pid !== null && !processAlive(l.pid);
  return lapsed || gone
    ? { worker: l.owner, host: l.host, pid: l.pid, expiresAt: Number(l.expiresAt) }
    : undefined;
}
