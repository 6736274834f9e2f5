/**
 * The catch-up job: follow the source collection's change feed and apply `up` to the target
 * (apply-changes.ts says what a batch of changed keys does to the target, and why a deleted key
 * is applied again after the backfill). Its one unit is the feed (feed-unit.ts: the position,
 * the counters and the lease in `_sy_catchup`); the runner leases it, checkpoints it, throttles,
 * pauses (`pause --job catch-up`) and retries.
 *
 * Resume rules (on top of the runner's, runner/runner.ts):
 * 1. A batch: read the changes after the position -> apply their keys (apply-changes.ts) ->
 *    checkpoint the position. Killed anywhere in between, the batch is read and applied again;
 *    every step is idempotent.
 * 2. Catch-up runs only while the old side is authoritative for every key: stages off,
 *    dual-write and shadow. From live on, the new side answers (and is written first) for some
 *    keys, and copying the old side over it could undo an application write: the job stops
 *    before its next batch when the stage gets there (`onControl`).
 * 3. An idle poll (nothing read, the position unmoved) checkpoints nothing: the state store is
 *    written when something changed, and at least every third of the lease TTL (renewal).
 * 4. A position the feed no longer knows is never skipped over: the run fails
 *    (CatchupPositionLostError, or the feed's own E_CHANGE_POSITION), it never starts "from now".
 */
import { SwitchyardError } from '../../../core/errors.js';
import type { Migration } from '../../../migration/migration.js';
import type { CatalogEntry } from '../../../state/catalog.js';
import { heldBy, type WorkerIdentity } from '../../../state/lease.js';
import type { PartitionCounts, PartitionState } from '../../../state/partitions.js';
import type { Change, Collection, Range } from '../../../store/contract.js';
import { isCursorInvalidated } from '../../../store/store-errors.js';
import type { EngineContext } from '../../context.js';
import {
  JobPass,
  type BatchIo,
  type Job,
  type Page,
  type PartitionWork,
} from '../../runner/job.js';
import { sideBySideState, Stage } from '../../stages.js';
import { backfillMayRun, ChangeApplier, type ApplyTarget } from './apply-changes.js';
import { SourceFeeds, SourceFeedsPositionError } from './source-feeds.js';
import type { CatchupData, CatchupProgress } from './feed-unit.js';

/** the stages in which the old side is authoritative for every key (rule 2) */
export const CATCHUP_STAGES: readonly Stage[] = [Stage.off, Stage.dualWrite, Stage.shadow];

/** codes of store errors that retrying cannot fix */
const FATAL_STORE_CODES = new Set(['E_CHANGE_POSITION']);

export type CatchupMode = 'follow' | 'until-idle' | 'once';

/** The change feed lost catch-up's position: which changes were missed cannot be known (rule 4). */
export class CatchupPositionLostError extends SwitchyardError {
  override readonly code = 'E_CATCHUP_POSITION_LOST';
}

/** What the job itself tells (the runner tells the rest: retries, dead letters, leases). */
export type CatchupJobEvent =
  | { type: 'start'; migration: string; worker: string; resumed: boolean }
  | {
      type: 'batch';
      changes: number;
      applied: number;
      deleted: number;
      errors: number;
      latencyMs: number;
    }
  | { type: 'recheck'; keys: number };

export interface CatchupJobOptions {
  mode: CatchupMode;
  pollMs: number;
  ttlMs: number;
  worker: WorkerIdentity;
  /** whether the unit existed before this run (a resumption, not a first start) */
  resumed: () => boolean;
  onEvent: (e: CatchupJobEvent) => void;
  /** audit an outcome of this run (the operation's entry: command catchup) */
  audit: (outcome: string, params?: Record<string, unknown>) => Promise<unknown>;
}

/** The counters of the unit as this process has them (its counts and its data). */
interface Totals extends CatchupData {
  changes: number;
  applied: number;
  errors: number;
}

/** The job's own end of a run: caught up (until-idle, once), or the stage moved on (rule 3). */
export interface CatchupEnd {
  outcome: 'idle' | 'stage';
  message: string;
  /** the stage is complete: the place in the feed is to be given back */
  complete?: boolean;
}

export class CatchupJob implements Job<Change> {
  readonly pass = JobPass.catchup;
  readonly migration: string;
  readonly key: string;
  /** rule 3: checkpoints when something changed (`due`), else when the lease needs renewing */
  readonly checkpointEveryMs: number;
  readonly #ctx: EngineContext;
  readonly #m: Migration;
  readonly #o: CatchupJobOptions;
  /** the source's change feed, and a merge's secondaries' (source-feeds.ts) */
  readonly #feeds: SourceFeeds;
  readonly #applier: ChangeApplier;
  /** the catalog entry as the runner last read it (before this batch) */
  #entry: CatalogEntry | null = null;
  /** the last read moved the position (one unit, one lane: the read before this batch) */
  #moved = false;
  /** the last read drained every feed (source-feeds.ts rule 4) */
  #drained = false;
  #live: Totals | undefined;
  /** this run took the feed's lease (and audited its start) */
  started = false;
  ended: CatchupEnd | undefined;

  constructor(
    ctx: EngineContext,
    m: Migration,
    target: Collection,
    o: CatchupJobOptions,
    more: readonly ApplyTarget[] = [],
  ) {
    this.#ctx = ctx;
    this.#m = m;
    this.#o = o;
    this.migration = m.id;
    this.key = `${m.id}#catch-up`;
    this.checkpointEveryMs = o.ttlMs / 3;
    this.#feeds = new SourceFeeds(ctx.store, m);
    this.#applier = new ChangeApplier(ctx, m, target, more);
  }

  /** A first start: the position "from now", saved before anything is applied. */
  async plan(): Promise<{ ranges: Range[]; params: { position: string } }> {
    const position = await this.#feeds.start();
    return { ranges: [{ id: 'feed' }], params: { position } };
  }

  restartPlan(): boolean {
    return false;
  }

  async scan(_range: Range, cursor: string | null, limit: number): Promise<Page<Change>> {
    const lost = (why: string, cause?: unknown) =>
      new CatchupPositionLostError(
        `the change feed of '${this.#m.collection}' lost catch-up's position (${why}): the changes since cannot be known. Release it (switchyard catchup ${this.#m.id} --release), start catch-up again and backfill again.`,
        cause !== undefined ? { cause } : {},
      );
    if (cursor === null) throw lost('none saved');
    try {
      const read = await this.#feeds.read(cursor, limit);
      this.#moved = read.position !== cursor;
      this.#drained = read.drained;
      return { items: read.changes, cursor: read.position };
    } catch (err) {
      if (isCursorInvalidated(err) || err instanceof SourceFeedsPositionError)
        throw lost((err as Error).message, err);
      throw err;
    }
  }

  fatal(err: unknown): boolean {
    const code = (err as { code?: unknown })?.code;
    return typeof code === 'string' && FATAL_STORE_CODES.has(code);
  }

  onControl(entry: CatalogEntry | null): string | undefined {
    this.#entry = entry;
    const stage = sideBySideState(entry).stage;
    if (CATCHUP_STAGES.includes(stage)) return undefined;
    this.ended ??= {
      outcome: 'stage',
      message: stageReason(this.#m.id, stage),
      ...(stage === Stage.complete ? { complete: true } : {}),
    };
    return this.ended.message;
  }

  /** the progress as last aggregated (what a `progress` event says) */
  lastProgress: CatchupProgress | undefined;

  async progressExtra(states: readonly PartitionState[]): Promise<Record<string, unknown>> {
    this.lastProgress = this.progress(states);
    return { ...this.lastProgress };
  }

  published(_p: unknown, states: readonly PartitionState[]): Record<string, unknown> {
    return { ...this.progress(states) };
  }

  /** The progress from the unit as last read, with what this process applied since. */
  progress(states: readonly PartitionState[]): CatchupProgress {
    const s = states[0];
    if (s === undefined) return { ...emptyTotals(), running: false, worker: null, updatedAt: '' };
    const mine = this.#live !== undefined && heldBy(s, this.#o.worker);
    const t = mine ? this.#live! : totalsOf(s);
    const { startedAt: _s, ...counters } = t;
    return {
      running: s.owner !== null,
      worker: s.owner,
      ...counters,
      updatedAt: new Date(s.updatedAt).toISOString(),
    };
  }

  open(partition: PartitionState): PartitionWork<Change> {
    const t = totalsOf(partition);
    this.#live = t;
    let dirty = false;
    let drained = false;
    return {
      start: async () => {
        this.started = true;
        this.#applier.recheckDirty = true;
        const resumed = this.#o.resumed();
        await this.#o.audit('started', { resumed });
        this.#o.onEvent({
          type: 'start',
          migration: this.#m.id,
          worker: this.#o.worker.id,
          resumed,
        });
      },
      batch: async (changes, io) => {
        const started = performance.now();
        if (this.#applier.recheckDirty && !backfillMayRun(this.#entry)) await this.#recheck(io, t);
        drained = this.#drained;
        const keys = [...new Set(changes.map((c) => c.key))];
        const { noted, ...counts } =
          keys.length > 0
            ? await this.#applier.apply(keys, io)
            : { applied: 0, deleted: 0, errors: 0, noted: 0 };
        t.pendingRechecks += noted;
        const now = Date.now();
        t.changes += changes.length;
        t.applied += counts.applied;
        t.deleted += counts.deleted;
        t.errors += counts.errors;
        if (drained) t.caughtUpAt = new Date(now).toISOString();
        t.lagMs = drained ? 0 : now - Date.parse(t.caughtUpAt ?? t.startedAt);
        dirty ||= changes.length > 0 || this.#moved;
        if (changes.length > 0)
          this.#o.onEvent({
            type: 'batch',
            changes: changes.length,
            ...counts,
            latencyMs: Math.round(performance.now() - started),
          });
        if (drained && this.#o.mode === 'until-idle' && this.#applier.recheckDirty) {
          // keys noted in this run are rechecked only on a status read after they were noted
          const entry = await io.retrying('catalog', () => this.#ctx.catalog.get(this.#m.id));
          if (!backfillMayRun(entry)) await this.#recheck(io, t);
        }
        return {
          migrated: counts.applied,
          errors: counts.errors,
        } satisfies Partial<PartitionCounts>;
      },
      data: async () => {
        dirty = false;
        const { changes: _c, applied: _a, errors: _e, ...data } = t;
        return { ...data };
      },
      due: () => dirty,
      next: () => {
        if (this.#o.mode === 'once') return this.#end(t, 'one batch');
        if (!drained) return undefined;
        return this.#o.mode === 'until-idle'
          ? this.#end(t, 'caught up')
          : { idleMs: this.#o.pollMs };
      },
    };
  }

  /** The noted deleted keys applied again (only when no backfill runs: apply-changes.ts). */
  async #recheck(io: BatchIo, t: Totals): Promise<void> {
    const keys = await this.#applier.recheckAll(io);
    if (keys > 0 || t.pendingRechecks !== 0) {
      this.#o.onEvent({ type: 'recheck', keys });
      t.rechecked += keys;
      t.pendingRechecks = 0;
    }
  }

  #end(t: Totals, what: string): { stop: string } {
    this.ended ??= { outcome: 'idle', message: summary(t, what) };
    return { stop: this.ended.message };
  }
}

export function stageReason(id: string, stage: Stage): string {
  return stage === Stage.complete
    ? `migration ${id} is complete: the old side is no longer the truth, nothing to catch up`
    : `migration ${id} is at stage ${stage}: the new side answers and is written first for some keys, and catch-up would copy the old side over them. Catch-up runs in ${CATCHUP_STAGES.join(', ')} (step back with switchyard stage ${id} shadow)`;
}

function emptyTotals(): Omit<Totals, 'startedAt'> {
  return {
    changes: 0,
    applied: 0,
    errors: 0,
    deleted: 0,
    rechecked: 0,
    pendingRechecks: 0,
    caughtUpAt: null,
    lagMs: 0,
  };
}

function totalsOf(p: PartitionState): Totals {
  const d = p.data as Partial<CatchupData> | undefined;
  return {
    ...emptyTotals(),
    ...d,
    startedAt: d?.startedAt ?? new Date(p.updatedAt).toISOString(),
    changes: p.counts.scanned,
    applied: p.counts.migrated,
    errors: p.counts.errors,
  };
}

export function summary(t: Omit<Totals, 'startedAt'>, what: string): string {
  return `${what}: ${t.changes} changes read, ${t.applied} documents written, ${t.deleted} deleted, ${t.errors} dead letters${t.pendingRechecks > 0 ? `, ${t.pendingRechecks} deleted keys waiting for the backfill to finish` : ''}`;
}
