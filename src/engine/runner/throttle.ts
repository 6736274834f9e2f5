/**
 * Throughput control for long passes: a token bucket (documents per second) and adaptive
 * back-off. Both can be changed while running (`setRate`).
 *
 * Adaptive back-off (AIMD): after each batch the caller reports its store latency and whether
 * the store throttled or failed. A failure, or a latency above `spikeFactor` x the healthy
 * baseline (and above an absolute floor), halves the speed factor (slow down sharply); a healthy
 * batch raises it by 10% (speed up slowly), up to 1. With a rate, the factor scales the rate;
 * without one, it becomes a duty cycle: pauses between batches that grow as the factor falls.
 */

export interface ThrottleOptions {
  /** documents per second; undefined or 0: unlimited */
  rate?: number;
  /** latency above this multiple of the baseline counts as a spike (default 4) */
  spikeFactor?: number;
  /** the lowest speed factor (default 0.02) */
  minFactor?: number;
  /** a latency below this is never a spike, ms (default 100) */
  spikeFloorMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class Throttle {
  #rate: number;
  #tokens = 0;
  #last: number;
  #factor = 1;
  #baseline: number | undefined;
  readonly #spike: number;
  readonly #minFactor: number;
  readonly #spikeFloorMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: ThrottleOptions = {}) {
    this.#rate = options.rate ?? 0;
    this.#spike = options.spikeFactor ?? 4;
    this.#minFactor = options.minFactor ?? 0.02;
    this.#spikeFloorMs = options.spikeFloorMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? sleep;
    this.#last = this.#now();
  }

  /** the configured rate (0: unlimited) */
  get rate(): number {
    return this.#rate;
  }

  /** the adaptive speed factor, 0 < factor <= 1 */
  get factor(): number {
    return this.#factor;
  }

  /** the rate in force now (configured x factor), or 0 when unlimited */
  get effectiveRate(): number {
    return this.#rate > 0 ? this.#rate * this.#factor : 0;
  }

  setRate(rate: number | undefined): void {
    this.#rate = rate ?? 0;
    this.#tokens = Math.min(this.#tokens, this.#rate);
  }

  /** Wait until `n` documents may be processed. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.#rate <= 0) {
      // unlimited: only the back-off pause once the factor has dropped — a duty cycle: at factor
      // f, work f of the time and pause the rest, measured in healthy batch latencies
      if (this.#factor < 1)
        await this.#sleep(
          Math.min(5000, (1 / this.#factor - 1) * Math.max(5, this.#baseline ?? 5)),
          signal,
        );
      return;
    }
    for (;;) {
      const now = this.#now();
      const rate = this.effectiveRate;
      this.#tokens = Math.min(Math.max(rate, n), this.#tokens + ((now - this.#last) / 1000) * rate);
      this.#last = now;
      if (this.#tokens >= n) {
        this.#tokens -= n;
        return;
      }
      if (signal?.aborted) return;
      await this.#sleep(Math.min(1000, Math.ceil(((n - this.#tokens) / rate) * 1000)), signal);
    }
  }

  /**
   * Report how a batch went: its store latency (not counting the rate limiter's own wait) and
   * whether the store throttled or failed. The baseline is an exponentially weighted average of
   * latencies, so ordinary variation (a GC pause, a WAL checkpoint) is not a spike; a spike must
   * also exceed an absolute floor.
   */
  observe(latencyMs: number, trouble: 'ok' | 'throttled' | 'error' = 'ok'): void {
    if (trouble !== 'ok') {
      this.#factor = Math.max(this.#minFactor, this.#factor / 2);
      return;
    }
    if (this.#baseline === undefined) {
      this.#baseline = latencyMs;
      return;
    }
    const spike = latencyMs > this.#baseline * this.#spike && latencyMs > this.#spikeFloorMs;
    // the baseline adapts, slowly while the store struggles, so a store that stays slow is
    // eventually the new normal rather than a reason to crawl forever
    this.#baseline = this.#baseline * (spike ? 0.98 : 0.9) + latencyMs * (spike ? 0.02 : 0.1);
    this.#factor = spike
      ? Math.max(this.#minFactor, this.#factor / 2)
      : Math.min(1, this.#factor * 1.1);
  }

  /** the healthy batch latency, ms (an exponentially weighted average), once known */
  get baselineMs(): number | undefined {
    return this.#baseline;
  }
}
