/**
 * Progress of a long pass: done/total, a smoothed rate and an ETA. The rate is an exponentially
 * weighted moving average over samples about a second apart, so a pause or a burst shows up in a
 * few seconds without jitter.
 */
export interface ProgressSnapshot {
  done: number;
  total: number;
  /** documents per second, smoothed */
  rate: number;
  /** seconds to go at the current rate, or null when unknown */
  etaSeconds: number | null;
  elapsedSeconds: number;
}

export class ProgressMeter {
  #rate = 0;
  #lastDone = 0;
  #lastAt: number;
  readonly #startedAt: number;

  constructor(
    private total: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#startedAt = now();
    this.#lastAt = this.#startedAt;
  }

  setTotal(total: number): void {
    this.total = total;
  }

  snapshot(done: number): ProgressSnapshot {
    const now = this.now();
    const dt = (now - this.#lastAt) / 1000;
    if (dt >= 1 || (this.#rate === 0 && dt > 0.2)) {
      const instant = (done - this.#lastDone) / dt;
      this.#rate = this.#rate === 0 ? instant : this.#rate * 0.7 + instant * 0.3;
      this.#lastDone = done;
      this.#lastAt = now;
    }
    const remaining = Math.max(0, this.total - done);
    return {
      done,
      total: Math.max(this.total, done),
      rate: Math.round(this.#rate),
      etaSeconds: remaining === 0 ? 0 : this.#rate > 0 ? Math.round(remaining / this.#rate) : null,
      elapsedSeconds: Math.round((now - this.#startedAt) / 1000),
    };
  }
}

/**
 * The total a pass over `collection` reports progress against: the store's cheap estimate where
 * it has one (DynamoDB's item count, which costs no read), else the exact count. For progress
 * and ETAs only; nothing that decides whether a job is complete may use it.
 */
export async function estimatedTotal(collection: {
  count(): Promise<number>;
  estimatedCount?(): Promise<number | null>;
}): Promise<number> {
  const estimate = (await collection.estimatedCount?.()) ?? null;
  return estimate ?? (await collection.count());
}
