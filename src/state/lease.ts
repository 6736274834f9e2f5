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
 * - A refused write of a worker's own unit is not yet a take-over: when the unit, read again,
 *   still names the same owner, host, pid and token, the rev moved under a write of this worker
 *   that applied but whose acknowledgement was lost (a server killed between the two), and the
 *   worker writes again at the rev found (`writeOwnUnit`). Anyone else changing the lease
 *   changes the token or the owner.
 */
import os from 'node:os';
import type { Doc } from '../core/values.js';
import type { Collection, Key, Rev } from '../store/contract.js';

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

/** Whether a unit read again still holds the lease `mine` describes: same owner, host, pid, token. */
export function sameHolder(stored: LeaseFields, mine: LeaseFields): boolean {
  return (
    mine.owner !== null &&
    stored.owner === mine.owner &&
    stored.host === mine.host &&
    stored.pid === mine.pid &&
    Number(stored.token) === Number(mine.token)
  );
}

/**
 * Write a worker's own unit document `doc` (which carries the worker's lease fields) conditional
 * on `rev`. Refused, it reads the unit again: still the same holder (see the rules above), it
 * writes again at the rev found, a few times at most; else (taken over, released, deleted) null.
 * Returns the new rev.
 */
export async function writeOwnUnit(
  c: Collection,
  key: Key,
  doc: Doc,
  rev: Rev,
  tries = 3,
): Promise<Rev | null> {
  const mine = doc as unknown as LeaseFields;
  for (let attempt = 1; ; attempt++) {
    const [res] = await c.write([{ type: 'put', key, doc, ifRev: rev }]);
    if (res?.ok) return res.rev!;
    if (attempt >= tries) return null;
    const current = await c.get(key);
    if (current === null || !sameHolder(current.doc as unknown as LeaseFields, mine)) return null;
    rev = current.rev;
  }
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
