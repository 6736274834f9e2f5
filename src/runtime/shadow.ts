/**
 * Shadow reads: the old side answers; the new side is read in the background and compared with
 * what it should hold (STYLE item 7: the control always answers, candidate errors go to a sink).
 *
 * Rules:
 * - the control is `up(old)` (null when the old document is absent), the candidate the target's
 *   document; `compare` names mismatches by field pattern into a MismatchCounter;
 * - the control is the old document AS READ: a snapshot taken before the caller gets the
 *   document (its storage text when the store gave one, else a copy), so an application that
 *   modifies the object it was given (get, change a field, put) does not change the control;
 * - a sampled share of keys is compared (`sampleRate`, default 1), each key on its own;
 * - the candidate read starts after the control answered, never delays the caller, and is given
 *   `candidateTimeoutMs` (default 1000); a timeout, a store error or up() refusing the old
 *   document is an observation with an error: counted, passed to `onCandidateError`, never thrown;
 * - a difference is counted only when it is not explained by a write after the control read
 *   (the application's own get -> modify -> put, or any other writer). Writes reach the old side
 *   first (it is authoritative for every compared key), so:
 *   1. the old side is read again at once: a changed rev (or a document that appeared or went)
 *      means a write came after the control read, which the candidate may have seen: discarded;
 *   2. then up to `rechecks` times (default 2), after `recheckDelayMs` (default 100, doubled each
 *      time), the new side is read, then the old side again: if the old rev changed, discarded;
 *      if up(old) now equals the new side, discarded (a write was on its way between the sides);
 *   3. a difference that survives every recheck, with the old document unchanged throughout, is
 *      a mismatch, named by the paths of the last comparison.
 *   A discarded comparison is counted as such (MismatchSnapshot.discarded), never as a match or a
 *   mismatch. The cost is only paid on a difference: a clean target is read once per comparison.
 *   A recheck read that fails discards the comparison; the failure is counted as a failed read
 *   of its side (never also as a candidate error);
 * - `idle()` resolves when every comparison started so far has been recorded, rechecks included.
 */
import type { Span } from '@opentelemetry/api';
import { SwitchyardError } from '../core/errors.js';
import { Attr, inSpan, SpanName } from '../observe/tracing.js';
import { fromStorageJSON, type Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import { copyDoc } from '../migration/operation.js';
import type { Collection, Key, Rev, Store, StoredDoc } from '../store/contract.js';
import type { TransformContext } from '../migration/lookups.js';
import { contextsNow } from './lookup-context.js';
import type { RuntimeCounters } from './counters.js';
import type { Side } from './repair-queue.js';
import { liveBucket } from './sticky.js';
import { compare, DISCARDED, MismatchCounter, type Observation } from './experiment.js';

export const DEFAULT_SAMPLE_RATE = 1;
export const DEFAULT_CANDIDATE_TIMEOUT_MS = 1000;
export const DEFAULT_RECHECKS = 2;
export const DEFAULT_RECHECK_DELAY_MS = 100;

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
  /** how many times a difference is read again before it counts as a mismatch (default 2) */
  rechecks?: number;
  /** the wait before the first recheck, ms, doubled for each further one (default 100) */
  recheckDelayMs?: number;
}

/** One compared key: the old document as read (a snapshot) and its rev. */
interface Control {
  readonly key: Key;
  readonly rev: Rev | null;
  doc(): Doc | null;
}

/** A key whose comparison differed and is being rechecked. */
interface Suspect {
  readonly control: Control;
  old: Doc | null;
  observation: Observation;
  /** the lookups up() computed the control with (a lookups migration) */
  context?: TransformContext | undefined;
}

export class Shadow {
  /** every comparison so far (yard.stats()) */
  readonly counter = new MismatchCounter();
  /** the comparisons since the last publish (counters.ts drains it) */
  readonly unpublished = new MismatchCounter();
  readonly #options: ShadowOptions;
  readonly #counters: RuntimeCounters | undefined;
  readonly #pending = new Set<Promise<void>>();

  /** `counters`: where the candidate and recheck reads are counted, per side */
  readonly #lookups: Store | undefined;

  constructor(
    options: ShadowOptions = {},
    counters?: RuntimeCounters,
    /** where up() reads a lookups migration's other collections (the data store) */
    lookups?: Store,
  ) {
    this.#options = options;
    this.#counters = counters;
    this.#lookups = lookups;
  }

  /**
   * Compare, in the background, a sample of `keys` whose old documents were read as `olds`
   * (from `source`). Call it before handing the documents to the caller: the controls are
   * snapshots taken here.
   */
  observe(
    m: Migration,
    source: Collection,
    target: Collection,
    keys: readonly Key[],
    olds: readonly (StoredDoc | null)[],
    stage?: string,
  ): void {
    const rate = this.#options.sampleRate ?? DEFAULT_SAMPLE_RATE;
    const random = this.#options.random ?? Math.random;
    const controls: Control[] = [];
    keys.forEach((key, i) => {
      if (rate >= 1 || random() < rate) controls.push(snapshot(key, olds[i] ?? null));
    });
    if (controls.length === 0) return;
    const attributes = {
      [Attr.migration]: m.id,
      [Attr.stage]: stage,
      'switchyard.shadow.compared': controls.length,
      // one key: its live bucket (never the key itself)
      [Attr.bucket]: controls.length === 1 ? liveBucket(controls[0]!.key, m.id) : undefined,
    };
    const p = inSpan(SpanName.shadowRead, attributes, (span) =>
      this.#run(m, source, target, controls, span),
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async #run(
    m: Migration,
    source: Collection,
    target: Collection,
    controls: Control[],
    span: Span,
  ) {
    let candidates: (Doc | null)[] | Error;
    const started = performance.now();
    try {
      candidates = (await this.#withTimeout(target.getMany(controls.map((c) => c.key)))).map(
        (s) => s?.doc ?? null,
      );
    } catch (err) {
      candidates = err instanceof Error ? err : new Error(String(err));
    }
    // a failed candidate read is counted once, as a candidate error of its observation
    this.#counters?.record('new', 'read', performance.now() - started, false);
    // up() of the controls with their lookups as read now: one getMany per looked-up collection
    // for the batch (lookup-context.ts); a failed read makes the comparison a candidate error
    const olds = controls.map((c) => c.doc());
    const contexts = new Map<Key, TransformContext>();
    if (m.hasLookups && !(candidates instanceof Error)) {
      const present = controls.flatMap((c, i) => (olds[i] === null ? [] : [i]));
      try {
        const got = await contextsNow(
          this.#lookups,
          m,
          present.map((i) => olds[i]!),
        );
        present.forEach((i, j) => contexts.set(controls[i]!.key, got[j]!));
      } catch (err) {
        candidates = err instanceof Error ? err : new Error(String(err));
      }
    }
    const suspects: Suspect[] = [];
    controls.forEach((control, i) => {
      const old = olds[i]!;
      const o = this.#compare(
        m,
        old,
        candidates instanceof Error ? candidates : candidates[i]!,
        contexts.get(control.key),
      );
      if (o.matched || o.candidateError !== undefined) this.#record(m, control.key, o);
      else suspects.push({ control, old, observation: o, context: contexts.get(control.key) });
    });
    span.setAttribute('switchyard.shadow.candidate_error', candidates instanceof Error);
    span.setAttribute('switchyard.shadow.suspects', suspects.length);
    if (suspects.length > 0) await this.#recheck(m, source, target, suspects);
  }

  /** Steps 1-3 of the header's rule: record each suspect as a mismatch or as discarded. */
  async #recheck(m: Migration, source: Collection, target: Collection, suspects: Suspect[]) {
    let left = await this.#sameOld(m, source, suspects);
    const rounds = this.#options.rechecks ?? DEFAULT_RECHECKS;
    let delay = this.#options.recheckDelayMs ?? DEFAULT_RECHECK_DELAY_MS;
    for (let round = 0; round < rounds && left.length > 0; round++) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
      const news = await this.#read('new', target, left);
      if (news === null) {
        this.#discard(m, left);
        return;
      }
      left = (await this.#sameOld(m, source, left)).filter((s) => {
        const o = this.#compare(m, s.old, news.get(s.control.key)?.doc ?? null, s.context);
        if (!o.matched && o.candidateError === undefined) {
          s.observation = o;
          return true;
        }
        this.#record(m, s.control.key, DISCARDED);
        return false;
      });
    }
    for (const s of left) this.#record(m, s.control.key, s.observation);
  }

  /** The suspects whose old document is still at the control's rev; the others are discarded. */
  async #sameOld(m: Migration, source: Collection, suspects: Suspect[]): Promise<Suspect[]> {
    if (suspects.length === 0) return suspects;
    const now = await this.#read('old', source, suspects);
    if (now === null) return this.#discard(m, suspects);
    return suspects.filter((s) => {
      const fresh = now.get(s.control.key) ?? null;
      if ((fresh?.rev ?? null) !== s.control.rev) {
        this.#record(m, s.control.key, DISCARDED);
        return false;
      }
      s.old = fresh?.doc ?? null;
      return true;
    });
  }

  #discard(m: Migration, suspects: Suspect[]): Suspect[] {
    for (const s of suspects) this.#record(m, s.control.key, DISCARDED);
    return [];
  }

  /** Read the suspects' keys on one side (counted as a read of it); null when the read failed. */
  async #read(side: Side, c: Collection, suspects: Suspect[]): Promise<Map<Key, StoredDoc> | null> {
    const started = performance.now();
    try {
      const got = await this.#withTimeout(c.getMany(suspects.map((s) => s.control.key)));
      this.#counters?.record(side, 'read', performance.now() - started, false);
      return new Map(got.flatMap((s) => (s === null ? [] : [[s.key, s] as const])));
    } catch {
      this.#counters?.record(side, 'read', performance.now() - started, true);
      return null;
    }
  }

  #compare(
    m: Migration,
    old: Doc | null,
    candidate: Doc | null | Error,
    ctx?: TransformContext,
  ): Observation {
    try {
      const control = old === null ? null : m.up(old, ctx);
      const ignore = this.#options.compareIgnore;
      return compare(control, candidate, ignore ? { ignore } : {});
    } catch (err) {
      return compare(null, err instanceof Error ? err : new Error(String(err)));
    }
  }

  #record(m: Migration, key: Key, o: Observation): void {
    this.counter.record(o);
    this.unpublished.record(o);
    this.#counters?.listener?.compare(o);
    if (o.candidateError === undefined) return;
    try {
      this.#options.onCandidateError?.(o.candidateError, { migration: m.id, key });
    } catch {
      // a failing sink must not fail the comparison of the other keys
    }
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

/** The old document as read, independent of the object handed to the caller. */
function snapshot(key: Key, stored: StoredDoc | null): Control {
  if (stored === null) return { key, rev: null, doc: () => null };
  const text = stored.text;
  if (text !== undefined) return { key, rev: stored.rev, doc: () => fromStorageJSON(text) as Doc };
  const copy = copyDoc(stored.doc);
  return { key, rev: stored.rev, doc: () => copy };
}
