/**
 * Shadow reads: the old side answers; the new side is read in the background and compared with
 * what it should hold (STYLE item 7: the control always answers, candidate errors go to a sink).
 *
 * Rules:
 * - the control is `up(old)` (null when the old document is absent), the candidate the target's
 *   document; `compare` names mismatches by field pattern into a MismatchCounter;
 * - a sampled share of keys is compared (`sampleRate`, default 1), each key on its own;
 * - the candidate read starts after the control answered, never delays the caller, and is given
 *   `candidateTimeoutMs` (default 1000); a timeout, a store error or up() refusing the old
 *   document is an observation with an error: counted, passed to `onCandidateError`, never thrown;
 * - `idle()` resolves when every comparison started so far has been recorded.
 */
import { SwitchyardError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Collection, Key } from '../store/contract.js';
import type { RuntimeCounters } from './counters.js';
import { compare, MismatchCounter, type Observation } from './experiment.js';

export const DEFAULT_SAMPLE_RATE = 1;
export const DEFAULT_CANDIDATE_TIMEOUT_MS = 1000;

export class CandidateTimeoutError extends SwitchyardError {
  override readonly code = 'E_CANDIDATE_TIMEOUT';
}

export interface ShadowOptions {
  /** share of reads compared, [0, 1] (default 1) */
  sampleRate?: number;
  /** how long the candidate read may take, ms (default 1000) */
  candidateTimeoutMs?: number;
  /** top-level fields left out of the comparison */
  compareIgnore?: readonly string[];
  /** where candidate errors go (they are counted either way) */
  onCandidateError?: (err: Error, info: { migration: string; key: Key }) => void;
  /** the random source for sampling (default Math.random) */
  random?: () => number;
}

export class Shadow {
  /** every comparison so far (yard.stats()) */
  readonly counter = new MismatchCounter();
  /** the comparisons since the last publish (counters.ts drains it) */
  readonly unpublished = new MismatchCounter();
  readonly #options: ShadowOptions;
  readonly #counters: RuntimeCounters | undefined;
  readonly #pending = new Set<Promise<void>>();

  /** `counters`: where the candidate reads are counted, as reads of the new side */
  constructor(options: ShadowOptions = {}, counters?: RuntimeCounters) {
    this.#options = options;
    this.#counters = counters;
  }

  /** Compare, in the background, a sample of `keys` whose old documents were `olds`. */
  observe(
    m: Migration,
    target: Collection,
    keys: readonly Key[],
    olds: readonly (Doc | null)[],
  ): void {
    const rate = this.#options.sampleRate ?? DEFAULT_SAMPLE_RATE;
    const random = this.#options.random ?? Math.random;
    const picked = keys.flatMap((k, i) => (rate >= 1 || random() < rate ? [i] : []));
    if (picked.length === 0) return;
    const p = this.#run(
      m,
      target,
      picked.map((i) => keys[i]!),
      picked.map((i) => olds[i]!),
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #run(m: Migration, target: Collection, keys: Key[], olds: (Doc | null)[]): Promise<void> {
    let candidates: (Doc | null)[] | Error;
    const started = performance.now();
    try {
      candidates = (await this.#withTimeout(target.getMany(keys))).map((s) => s?.doc ?? null);
    } catch (err) {
      candidates = err instanceof Error ? err : new Error(String(err));
    }
    // a failed candidate read is counted once, as a candidate error of its observation
    this.#counters?.record('new', 'read', performance.now() - started, false);
    const ignore = this.#options.compareIgnore;
    keys.forEach((key, i) => {
      let o: Observation;
      try {
        const old = olds[i]!;
        const control = old === null ? null : m.up(old);
        o = compare(
          control,
          candidates instanceof Error ? candidates : candidates[i]!,
          ignore ? { ignore } : {},
        );
      } catch (err) {
        o = compare(null, err instanceof Error ? err : new Error(String(err)));
      }
      this.counter.record(o);
      this.unpublished.record(o);
      this.#counters?.listener?.compare(!o.matched, o.candidateError !== undefined);
      if (o.candidateError === undefined) return;
      try {
        this.#options.onCandidateError?.(o.candidateError, { migration: m.id, key });
      } catch {
        // a failing sink must not fail the comparison of the other keys
      }
    });
  }

  #withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = this.#options.candidateTimeoutMs ?? DEFAULT_CANDIDATE_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CandidateTimeoutError(`candidate read took over ${ms} ms`)),
        ms,
      );
      timer.unref?.();
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}
