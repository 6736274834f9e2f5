/**
 * Which partition a lane of this worker takes next. Rules:
 * - partitions nobody holds first, then ones whose lease is free (expired, or held by a dead
 *   process of this host: state/lease.ts), in plan order; two lanes of one process never race
 *   for the same partition;
 * - a lane is done when nothing is left but what this process's other lanes work on;
 * - a partition taken from a worker that died or stalled is announced (`lease` with
 *   `takenOverFrom`: the alerts say a worker died);
 * - when every open partition is held by a live worker elsewhere, its holder is kept (`holder`)
 *   so the lane can say whom it waits for;
 * - a plan whose partitions are gone was replaced by a newer run: `replaced`.
 */
import { heldBy, takenOverFrom, type WorkerIdentity } from '../../state/lease.js';
import type { Lease } from '../../state/partitions.js';
import type { RunnerEvent, Units } from './job.js';

export class LeaseSeeker {
  readonly claiming = new Set<string>();
  holder: { owner: string; expiresAt: number } | undefined;

  constructor(
    readonly units: Units,
    readonly worker: WorkerIdentity,
    readonly ids: readonly string[],
    readonly retrying: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
    readonly emit: (e: RunnerEvent) => void,
  ) {}

  async next(): Promise<Lease | null | 'all-done' | 'replaced'> {
    const states = await this.retrying('partitions', () => this.units.states(this.ids));
    const listedAt = Date.now();
    if (states.length < this.ids.length) return 'replaced';
    const open = states.filter((p) => !p.done);
    if (open.every((p) => heldBy(p, this.worker) && Number(p.expiresAt) > listedAt))
      return 'all-done';
    for (const p of open.sort(
      (a, b) => Number(a.owner !== null) - Number(b.owner !== null) || a.index - b.index,
    )) {
      if (this.claiming.has(p.id)) continue;
      this.claiming.add(p.id);
      try {
        const lease = await this.retrying('lease', () => this.units.tryAcquire(p.id, this.worker));
        if (lease !== null) {
          const previous = takenOverFrom(p, this.worker, listedAt);
          this.emit({
            type: 'lease',
            partition: p.id,
            token: lease.state.token,
            ...(previous !== undefined ? { takenOverFrom: previous } : {}),
          });
          return lease;
        }
      } finally {
        this.claiming.delete(p.id);
      }
    }
    const held = open.find((p) => p.owner !== null && !heldBy(p, this.worker));
    this.holder =
      held !== undefined ? { owner: held.owner!, expiresAt: Number(held.expiresAt) } : undefined;
    return null;
  }
}
