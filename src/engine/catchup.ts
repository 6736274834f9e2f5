/**
 * Catch-up: where the application cannot dual-write through the runtime, tail the source
 * collection's change feed and apply `up` to the target (which may be in another store). The
 * work is a job on the runner (jobs/catchup/catchup-job.ts says what a batch does, and why a
 * deleted key is applied again after the backfill); its one unit is the feed
 * (jobs/catchup/feed-unit.ts: position, counters and lease in `_sy_catchup`). A merge follows
 * its secondary sources' feeds too, under the same one position (jobs/catchup/source-feeds.ts).
 *
 * This file is what starts and ends it. Rules:
 * 1. Refused before anything is written (each refusal audited): an in-place migration, a
 *    migration with nothing to do, a source store without a change feed, a stage past shadow.
 *    At stage complete it gives its place in the feed back instead (once), and says so.
 * 2. The first start asks the feed for a position "from now" and saves it before anything is
 *    applied. The side-by-side backfill runs with the stage off only once that document exists
 *    (backfill.ts), so a document it does not copy as it is changed after the start: the change
 *    is in the feed.
 * 3. One process at a time: the feed's lease. A second `catchup` waits as a standby (follow mode)
 *    and takes over when the lease expires, at once when the holder was a process of this host
 *    that no longer exists; with --once or --until-idle it is refused instead. A lease rather than
 *    a bare conditional write: two processes would both apply every batch (harmless, but twice
 *    the work), and a standby is useful. A process whose lease was taken over stops ('lease-lost').
 * 4. Start and stop are audited; the stop says why (idle, stage, stopped, lease lost, failed),
 *    and so does the state document (`stopReason`). When the stage reached complete during the
 *    run, the place in the feed is given back (the SQLite feed drops its triggers when nobody
 *    reads it); `releaseCatchup` (catchup-release.ts) does that on demand (`catchup --release`),
 *    for a catch-up given up on before the migration completes.
 */
import type { Migration } from '../migration/migration.js';
import { registration } from '../state/catalog.js';
import { defaultWorker } from '../state/lease.js';
import type { Store } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import { CatchupRefusedError, releaseCatchup } from './catchup-release.js';
import type { EngineContext } from './context.js';
import {
  CATCHUP_STAGES,
  CatchupJob,
  stageReason,
  summary,
  type CatchupJobEvent,
  type CatchupMode,
} from './jobs/catchup/catchup-job.js';
import { recheckCollectionName } from './jobs/catchup/apply-changes.js';
import { SourceFeeds } from './jobs/catchup/source-feeds.js';
import {
  CATCHUP_COLLECTION,
  catchupState,
  catchupStarted,
  FeedUnit,
  nothingYet,
  progressOf,
  type CatchupProgress,
  type CatchupState,
} from './jobs/catchup/feed-unit.js';
import type { RunnerEvent } from './runner/job.js';
import { runJob } from './runner/runner.js';
import type { Threshold } from './runner/thresholds.js';
import type { RunSummary } from './runner/options.js';
import { sideBySideState, Stage } from './stages.js';
import { targetCollection } from './mapped-target.js';

export { CatchupRefusedError, releaseCatchup } from './catchup-release.js';
export {
  CATCHUP_COLLECTION,
  CATCHUP_STAGES,
  catchupStarted,
  catchupState,
  recheckCollectionName,
  type CatchupMode,
  type CatchupProgress,
  type CatchupState,
};

export const DEFAULT_CATCHUP_BATCH_SIZE = 500;
export const DEFAULT_POLL_MS = 500;
export const DEFAULT_CATCHUP_LEASE_TTL_MS = 15_000;

export interface CatchupOptions {
  /** follow (default): until stopped; until-idle: until the feed is drained; once: one batch */
  mode?: CatchupMode;
  /** changes per batch */
  batchSize?: number;
  /** how long to wait when the feed is drained, ms */
  pollMs?: number;
  /** documents per second (0 or absent: unlimited); adaptive back-off either way */
  rate?: number;
  leaseTtlMs?: number;
  workerId?: string;
  reason?: string;
  signal?: AbortSignal;
  onEvent?: (event: CatchupEvent) => void;
  /** how often progress is published to the catalog, ms (default 2000) */
  progressIntervalMs?: number;
  /**
   * contingency thresholds checked after every batch (runner/thresholds.ts; the CLI passes the
   * config's for job `catch-up`): `lag` is the job's lagMs, the time since the feed was last drained
   */
  thresholds?: readonly Threshold[];
}

export type CatchupOutcome =
  /** until-idle / once: the work asked for is done */
  | 'idle'
  /** stopped by the signal; run again to resume */
  | 'stopped'
  /** the stage left off / dual-write / shadow */
  | 'stage'
  /** another process took the lease over */
  | 'lease-lost'
  /** a threshold paused it (`switchyard resume <id> --job catch-up`, then run it again) */
  | 'paused';

export interface CatchupResult {
  migration: string;
  outcome: CatchupOutcome;
  message: string;
  progress: CatchupProgress;
}

export type CatchupEvent =
  | CatchupJobEvent
  | { type: 'standby'; owner: string; expiresAt: number }
  | { type: 'retry'; error: string; attempt: number; delayMs: number }
  | { type: 'dead-letter'; key: string; error: string }
  | { type: 'paused'; reason: string }
  | { type: 'resumed' }
  | Extract<RunnerEvent, { type: 'threshold' }>
  | { type: 'progress'; progress: CatchupProgress }
  | { type: 'done'; result: CatchupResult };

export async function catchup(
  ctx: EngineContext,
  migration: Migration,
  options: CatchupOptions = {},
): Promise<CatchupResult> {
  const m = migration;
  const mode = options.mode ?? 'follow';
  const batchSize = options.batchSize ?? DEFAULT_CATCHUP_BATCH_SIZE;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const ttlMs = options.leaseTtlMs ?? DEFAULT_CATCHUP_LEASE_TTL_MS;
  const worker = defaultWorker(options.workerId);
  const audit = (outcome: string, params: Record<string, unknown> = {}) =>
    ctx.audit.append({
      actor: ctx.actor,
      command: 'catchup',
      migration: m.id,
      params: { mode, batchSize, worker: worker.id, ...params },
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      outcome,
    });
  const refuse = async (why: string, field?: string): Promise<never> => {
    await audit(`refused: ${why}`);
    throw new CatchupRefusedError(why, field !== undefined ? { field } : {});
  };
  const emit = (e: CatchupEvent) => options.onEvent?.(e);
  const done = (result: CatchupResult) => (emit({ type: 'done', result }), result);

  const stage = await preflight(ctx, m, { batchSize, pollMs, ttlMs }, refuse);
  if (stage === Stage.complete) {
    // the migration is over: give the place in the feed back (once), nothing to follow
    const released = await releaseCatchup(ctx, m, {
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      why: 'the migration is complete',
    });
    if (!released)
      return refuse(
        `migration ${m.id} is complete: nothing to catch up (and no catch-up to release)`,
        'stage',
      );
    const message = `migration ${m.id} is complete: catch-up released its place in the change feed`;
    return done({
      migration: m.id,
      outcome: 'stage',
      message,
      progress: await progressNow(ctx, m),
    });
  }

  const feeds = new SourceFeeds(ctx.store, m);
  const targetStore: Store | undefined =
    m.target!.store !== undefined ? await openStore(m.target!.store) : undefined;
  try {
    const unit = new FeedUnit(ctx.stateStore, m.id, {
      ttlMs,
      discard: (position) => feeds.release(position),
    });
    const job = new CatchupJob(
      ctx,
      m,
      targetCollection(m, targetStore ?? ctx.store),
      {
        mode,
        pollMs,
        ttlMs,
        worker,
        resumed: () => !unit.created,
        onEvent: emit,
        audit,
      },
      m.extraTargets.map((t) => ({
        m: t,
        collection: targetCollection(t, targetStore ?? ctx.store),
      })),
    );
    let run: RunSummary;
    try {
      run = await runJob(ctx, job, {
        partitions: 1,
        concurrency: 1,
        batchSize,
        ...(options.rate !== undefined ? { rate: options.rate } : {}),
        workerId: worker.id,
        leaseTtlMs: ttlMs,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.thresholds !== undefined ? { thresholds: options.thresholds } : {}),
        progressIntervalMs: options.progressIntervalMs ?? 2000,
        total: () => Promise.resolve(0),
        units: unit,
        standby: mode === 'follow',
        stopOnLeaseLost: true,
        onEvent: (e) => {
          if (e.type === 'waiting')
            emit({ type: 'standby', owner: e.owner, expiresAt: e.expiresAt });
          else if (e.type === 'progress') emit({ type: 'progress', progress: job.lastProgress! });
          else if (
            e.type === 'retry' ||
            e.type === 'dead-letter' ||
            e.type === 'paused' ||
            e.type === 'resumed' ||
            e.type === 'threshold'
          )
            emit(e);
        },
      });
    } catch (err) {
      // the runner gave the lease back, saying why (feed-unit.ts); the stop is audited here
      if (job.started)
        await audit(`failed: ${(err as Error).message}`, counters(await progressNow(ctx, m)));
      throw err;
    }
    if (run.outcome === 'busy') {
      const h = run.holder;
      return refuse(
        `catch-up of ${m.id} is running in ${h?.owner} (lease until ${new Date(h?.expiresAt ?? 0).toISOString()}): stop it first, or run without --once/--until-idle to wait as a standby`,
      );
    }
    const result = resultOf(m, run, job);
    const end = job.ended;
    if (end?.complete === true)
      await releaseCatchup(ctx, m, {
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        why: 'the migration is complete',
      });
    if (job.started)
      await audit(
        result.outcome === 'lease-lost'
          ? `stopped: ${result.message}`
          : `stopped: ${result.outcome}`,
        counters(result.progress),
      );
    return done(result);
  } finally {
    await targetStore?.close();
  }
}

/** How the run ended: the job's own end (idle, stage), a lost lease, or stopped. */
function resultOf(m: Migration, run: RunSummary, job: CatchupJob): CatchupResult {
  const progress = job.progress(run.states);
  const base = { migration: m.id, progress };
  if (run.leaseLost)
    return { ...base, outcome: 'lease-lost', message: run.message ?? 'lost the catch-up lease' };
  if (run.outcome === 'guard-tripped' && run.trip !== undefined)
    return {
      ...base,
      outcome: 'paused',
      message: `threshold reached: ${run.trip.message}. Catch-up is paused at its saved position; switchyard resume ${m.id} --job catch-up, then run catchup again`,
    };
  if (job.ended !== undefined)
    return { ...base, outcome: job.ended.outcome, message: job.ended.message };
  return {
    ...base,
    outcome: 'stopped',
    message: job.started
      ? `${summary(progress, 'stopped')}; run catchup again to resume from the saved position`
      : 'stopped while waiting for the lease',
  };
}

/** Refuse what cannot run, before anything is written (each refusal is audited). */
async function preflight(
  ctx: EngineContext,
  m: Migration,
  numbers: { batchSize: number; pollMs: number; ttlMs: number },
  refuse: (why: string, field?: string) => Promise<never>,
): Promise<Stage> {
  for (const [name, v] of [
    ['batchSize', numbers.batchSize],
    ['pollMs', numbers.pollMs],
    ['leaseTtlMs', numbers.ttlMs],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new CatchupRefusedError(`${name} must be a positive integer, got ${v}`, {
        field: name,
      });
  }
  if (m.kind !== 'side-by-side')
    return refuse(
      `${m.id} is an in-place migration: catch-up copies a source collection into a target one (a side-by-side migration, with \`target\`)`,
      'id',
    );
  if (m.isEmpty) return refuse(`migration ${m.id} has no operations and no up() yet`);
  const blind = new SourceFeeds(ctx.store, m).withoutFeed();
  if (blind.length > 0)
    return refuse(
      `the source store (${ctx.store.kind}: ${ctx.store.url}) has no change feed, so catch-up cannot follow '${blind.join("' and '")}': it needs sqlite, dynamodb (a table with a stream), or mongodb with change streams. Let the application write both sides through the runtime instead (switchyard stage ${m.id} dual-write).`,
      'store',
    );
  await ctx.catalog.register(registration(m));
  const stage = sideBySideState(await ctx.catalog.get(m.id)).stage;
  if (stage !== Stage.complete && !CATCHUP_STAGES.includes(stage))
    return refuse(stageReason(m.id, stage), 'stage');
  return stage;
}

/** The catch-up's progress as its state document says (nothing yet when there is none). */
async function progressNow(ctx: EngineContext, m: Migration): Promise<CatchupProgress> {
  const s = await catchupState(ctx.stateStore, m.id);
  return s === null ? nothingYet() : progressOf(s);
}

function counters(p: CatchupProgress): Record<string, unknown> {
  const { changes, applied, deleted, errors, rechecked, pendingRechecks } = p;
  return { changes, applied, deleted, errors, rechecked, pendingRechecks };
}
