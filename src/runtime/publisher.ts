/**
 * Publishing a yard's counters: what this process counted since its last publish, one document
 * per migration that saw traffic, written to the state store (counters.ts has the format and the
 * window rules).
 *
 * Rules:
 * - one publish at a time: a call made while one runs waits for it, then publishes on its own;
 * - each publish covers (since, at], `at` strictly after the last one's, so windows never
 *   overlap and nothing is counted twice;
 * - a migration whose write fails gets its counts back for the next publish; the first failure
 *   is thrown after every migration was tried;
 * - documents older than RETENTION_MS are pruned at most once a minute.
 */
import type { SideBySideState } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';
import {
  isEmptySample,
  publishSample,
  pruneSamples,
  RETENTION_MS,
  sampleFrom,
  type RuntimeCounters,
} from './counters.js';
import type { Shadow } from './shadow.js';

const PRUNE_EVERY_MS = 60_000;

/** A migration whose counts are published. */
export interface Publishable {
  readonly migration: Migration;
  readonly route: { readonly counters: RuntimeCounters; readonly shadow: Shadow };
}

export class Publisher {
  #publishedAt = Date.now();
  #prunedAt = 0;
  #publishing: Promise<void> | undefined;

  constructor(
    readonly stateStore: Store,
    readonly instance: string,
    /** the migrations, read at each publish (the yard adds to it) */
    readonly migrations: readonly Publishable[],
    readonly stage: (migrationId: string) => SideBySideState,
  ) {}

  async publish(): Promise<void> {
    while (this.#publishing !== undefined) await this.#publishing;
    this.#publishing = this.#publishNow().finally(() => (this.#publishing = undefined));
    return this.#publishing;
  }

  async #publishNow(): Promise<void> {
    const since = this.#publishedAt;
    const at = Math.max(Date.now(), since + 1);
    this.#publishedAt = at;
    const prune = at - this.#prunedAt > PRUNE_EVERY_MS;
    if (prune) this.#prunedAt = at;
    let failure: unknown;
    for (const k of this.migrations) {
      const id = k.migration.id;
      const sides = k.route.counters.drain();
      const shadow = k.route.shadow.unpublished.drain();
      const state = this.stage(id);
      const sample = sampleFrom(
        {
          migration: id,
          instance: this.instance,
          at,
          since,
          stage: state.stage,
          percent: state.percent,
        },
        sides,
        shadow,
      );
      try {
        if (!isEmptySample(sample)) await publishSample(this.stateStore, sample);
        if (prune) await pruneSamples(this.stateStore, id, at - RETENTION_MS);
      } catch (err) {
        k.route.counters.restore(sides);
        k.route.shadow.unpublished.restore(shadow);
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
