/**
 * Throughput control for long passes: a token bucket (documents per second) and adaptive
 * back-off. Both can be changed while running (`setRate`).
 *
 * Adaptive back-off (AIMD): after each batch the caller reports its store latency and whether
 * the store throttled or failed. A failure, or a latency above `spikeFactor` x the healthy
 * baseline (and above an absolute floor), halves the speed factor (slow down sharply); a healthy
 * batch raises it by 10% (speed up slowly), up to 1. With a rate, the factor scales the rate;
 * without one, it becomes a duty cycle: pauses between batches that grow as the factor falls.
 *
 * Capacity budgets (stores that meter capacity units: DynamoDB): read and write units per second.
 * The caller charges what its requests consumed after each batch (`charge`, with the store's
 * running totals); `take` waits until the debt is paid back at the budget times the speed
 * factor, so a throttled store slows the budget down too. A batch is never split: one batch may
 * overdraw, the next waits for it.
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

/** Capacity units per second (0 or absent: no budget). */
export interface CapacityBudget {
  read?: number;
  write?: number;
}

const KINDS = ['read', 'write'] as const;

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
  #budget: CapacityBudget = {};
  /** units consumed and not yet paid back by the budget */
  readonly #debt = { read: 0, write: 0 };
  /** the running totals last charged */
  #charged: { read: number; write: number; throttled?: number } | undefined;
  #debtAt: number;

  constructor(options: ThrottleOptions = {}) {
    this.#rate = options.rate ?? 0;
    this.#spike = options.spikeFactor ?? 4;
    this.#minFactor = options.minFactor ?? 0.02;
    this.#spikeFloorMs = options.spikeFloorMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? sleep;
    this.#last = this.#now();
    this.#debtAt = this.#last;
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

  /** Set the capacity budget (units per second). */
  setCapacity(budget: CapacityBudget): void {
    this.#budget = { ...budget };
  }

  /** the capacity budget in force now (configured x factor); 0 where there is none */
  get effectiveCapacity(): { read: number; write: number } {
    return {
      read: (this.#budget.read ?? 0) * this.#factor,
      write: (this.#budget.write ?? 0) * this.#factor,
    };
  }

  /**
   * Charge the units consumed since the last charge, given the store's running totals; requests
   * the store throttled meanwhile (and its adapter sent again) slow down like a throttling error.
   */
  charge(totals: { read: number; write: number; throttled?: number }): void {
    this.#payBack();
    const last = this.#charged ?? { read: 0, write: 0, throttled: 0 };
    for (const k of KINDS) if ((this.#budget[k] ?? 0) > 0) this.#debt[k] += totals[k] - last[k];
    if ((totals.throttled ?? 0) > (last.throttled ?? 0)) this.observe(0, 'throttled');
    this.#charged = { ...totals };
  }

  #payBack(): void {
    const now = this.#now();
    const seconds = (now - this.#debtAt) / 1000;
    this.#debtAt = now;
    const budget = this.effectiveCapacity;
    for (const k of KINDS) this.#debt[k] = Math.max(0, this.#debt[k] - seconds * budget[k]);
  }

  /** Wait until the capacity debt is paid back. */
  async #waitCapacity(signal?: AbortSignal): Promise<void> {
    for (;;) {
      this.#payBack();
      const budget = this.effectiveCapacity;
      let ms = 0;
      for (const k of KINDS)
        if (budget[k] > 0 && this.#debt[k] > 0)
          ms = Math.max(ms, Math.ceil((this.#debt[k] / budget[k]) * 1000));
      if (ms === 0 || signal?.aborted) return;
      await this.#sleep(Math.min(1000, ms), signal);
    }
  }

  /** Wait until `n` documents may be processed (and the capacity budget allows a batch). */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    await this.#waitCapacity(signal);
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
