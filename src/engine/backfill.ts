/**
 * The backfill: transform every document of a collection from `from` to `to` — in place
 * (jobs/backfill-in-place.ts) or into the target collection of a side-by-side migration
 * (jobs/backfill-copy.ts) — as a job on the runner (runner/runner.ts): partitioned, leased,
 * checkpointed, throttled, paused and resumed from the state store, guarded.
 *
 * This file is what starts and ends it: the refusals before anything is written, the status
 * (pending/rolled-back -> backfilling -> backfilled), the audit log, and what happens at the end
 * (a guard trip pauses, or rolls back with autoRollback; a copy in dual-write or shadow sweeps the
 * target for documents whose source is gone).
 *
 * Resume rules: the runner's (partitions, leases, checkpoints, fencing, pause) and the jobs'
 * (version gating, conditional writes, write-ahead journal). Besides:
 * - a run started while the migration is backfilled or verified sweeps everything again (its
 *   partitions start afresh), which picks up what the application wrote in the old shape since;
 *   documents already at `to` are skipped cheaply;
 * - a migration started with the journal cannot continue without it.
 */
import { InputError, UsageError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { ChangeLog, type ChangeLogOptions } from '../observe/change-log.js';
import { MigrationStatus, registration, type CatalogEntry } from '../state/catalog.js';
import { Journal } from '../state/journal.js';
import { defaultWorker } from '../state/lease.js';
import { Partitions } from '../state/partitions.js';
import type { Store } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import { catchupStarted } from './catchup.js';
import { budgetedLimits, everyDocumentFailed, type ErrorBudget } from './error-budget.js';
import { whyJournalNeeded } from '../migration/journal-rule.js';
import type { EngineContext } from './context.js';
import { CopyBackfillJob } from './jobs/backfill-copy.js';
import { InPlaceBackfillJob } from './jobs/backfill-in-place.js';
import { disturbs } from './jobs/final-sweep.js';
import { CanaryBackfillJob, canaryPlanKey, type CanaryOptions } from './jobs/backfill-canary.js';
import { canaryEntry, checkCanary, finishCanary, refuseCanary } from './canary.js';
import type { BackfillJob, RetryDeadSummary } from './jobs/backfill-job.js';
import { rollback, type RollbackResult } from './rollback.js';
import { controlOf, type JobControl } from './runner/control.js';
import type { Guards, GuardTrip } from './runner/guards.js';
import { JobPass, type JobProgress, type RunnerEvent } from './runner/job.js';
import {
  looseIo,
  workerRunOptions,
  type RunSummary,
  type WorkerOptions,
} from './runner/options.js';
import { capacityBudget, PassCapacity } from './runner/capacity.js';
import { runJob } from './runner/runner.js';
import { recordMigrationSchemas } from '../schema/record-schemas.js';
import { sleep } from './runner/throttle.js';
import { sideBySideState, Stage } from './stages.js';
import { targetCollection } from './mapped-target.js';

export { setPaused, setThrottle } from './runner/control.js';

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_PARTITIONS = 16;
/** how long a side-by-side backfill waits after the stage became dual-write (2 refresh intervals) */
export const DEFAULT_STAGE_SETTLE_MS = 2000;

export type BackfillControl = JobControl;
export type BackfillContext = EngineContext;

export interface BackfillOptions extends WorkerOptions {
  /** write before-images to the undo journal (default true; false only for exactly invertible migrations) */
  journal?: boolean;
  /** limits checked after every batch; a trip pauses the migration (see runner/guards.ts) */
  guards?: Guards;
  /** the error budget (default 10 dead letters and 1% of the documents scanned; false: none; error-budget.ts) */
  errorBudget?: ErrorBudget | false;
  /** when a guard trips, roll the migration back (instead of only pausing it) */
  autoRollback?: boolean;
  /** process only the dead letters, and remove the ones that succeed */
  retryDead?: boolean;
  /** accept a migration file changed since it started */
  force?: boolean;
  reason?: string;
  onEvent?: (event: BackfillEvent) => void;
  /** `--log-changes`: a JSON line per batch with the paths changed and sampled JSON Patches */
  logChanges?: Omit<ChangeLogOptions, 'migration'>;
  /** side by side: how long after the stage became dual-write the copy may start (default 2000 ms) */
  stageSettleMs?: number;
  /**
   * `--limit` / `--filter`: an in-place canary, a subset first (jobs/backfill-canary.ts); the
   * migration ends in status `canary`, and a plain backfill later migrates the rest
   */
  canary?: CanaryOptions;
  /**
   * in place: walk the collection once more before "backfilled" and end `incomplete` if documents
   * were left at the old version (jobs/final-sweep.ts). Default: on where scan cursors are tied
   * to a server process (Redis) and the run saw a walk restarted or a store call retried; off
   * elsewhere. Never for a canary (the rest is left on purpose).
   */
  finalSweep?: boolean;
}

export interface BackfillProgress extends JobProgress {
  deadLetters: number;
}

export type BackfillEvent =
  RunnerEvent<BackfillProgress> | { type: 'done'; result: BackfillResult };

export type BackfillOutcome =
  /** every partition is done: the migration is backfilled */
  | 'backfilled'
  /**
   * every partition is done, but the end-of-run check found documents left behind, or every
   * document that needed a transform failed (error-budget.ts)
   */
  | 'incomplete'
  /** a guard tripped: the migration is paused */
  | 'guard-tripped'
  /** a guard tripped and the migration was rolled back (autoRollback) */
  | 'rolled-back'
  /** stopped by the signal; run again to resume */
  | 'aborted'
  /** a canary (`canary`) ended: the migration is in status canary, the rest not migrated yet */
  | 'canary';

export interface BackfillResult {
  migration: string;
  outcome: BackfillOutcome;
  message: string;
  progress: BackfillProgress;
  /** the guard that tripped, if one did */
  trip?: GuardTrip;
  /** the rollback that followed, with autoRollback */
  rollback?: RollbackResult;
  /** with retryDead: what this run did with the dead letters (the message says the same) */
  retryDead?: RetryDeadSummary;
}

/** A backfill that cannot run (wrong status, no journal for a lossy migration, ...). Nothing was changed. */
export class BackfillRefusedError extends InputError {
  override readonly code = 'E_BACKFILL_REFUSED';
}

export async function backfill(
  ctx: BackfillContext,
  migration: Migration,
  options: BackfillOptions = {},
): Promise<BackfillResult> {
  const m = migration;
  checkCanary(m, options);
  preflight(m, options);
  if (m.kind === 'side-by-side') await checkStage(ctx, m, options);
  const journal =
    options.journal === false || m.kind === 'side-by-side'
      ? undefined
      : new Journal(ctx.stateStore, m.id);
  // side by side: the copy goes to the target collection, on another store when the migration names one
  const targetStore: Store | undefined =
    m.kind === 'side-by-side' && m.target!.store !== undefined
      ? await openStore(m.target!.store)
      : undefined;
  try {
    const job: BackfillJob =
      m.kind === 'side-by-side'
        ? new CopyBackfillJob(
            ctx,
            m,
            targetCollection(m, targetStore ?? ctx.store),
            m.extraTargets.map((t) => ({
              m: t,
              collection: targetCollection(t, targetStore ?? ctx.store),
            })),
          )
        : options.canary !== undefined
          ? new CanaryBackfillJob(ctx, m, journal!, options.canary)
          : new InPlaceBackfillJob(ctx, m, journal, {
              ...(options.finalSweep !== undefined ? { finalSweep: options.finalSweep } : {}),
            });
    if (options.logChanges !== undefined)
      job.changes = new ChangeLog({ ...options.logChanges, migration: m.id });
    // a capacity budget that cannot be honoured is refused before anything is written
    const budget = await capacityBudget(options, job.source, job.destination);
    const entry = await start(ctx, m, options, journal !== undefined);
    const emit = (e: BackfillEvent) => options.onEvent?.(e);
    let retried: RetryDeadSummary | undefined;
    const limits = budgetedLimits(options.guards, options.thresholds, options.errorBudget);
    const summary = await runJob(ctx, job, {
      ...workerRunOptions(options, {
        partitions: DEFAULT_PARTITIONS,
        concurrency: DEFAULT_CONCURRENCY,
        batchSize: DEFAULT_BATCH_SIZE,
      }),
      capacity: { budget, meter: new PassCapacity(job.source, job.destination) },
      ...(limits.guards !== undefined ? { guards: limits.guards } : {}),
      thresholds: limits.thresholds,
      autoRollback: options.autoRollback === true,
      total: async () => (entry.progress?.total as number | undefined) ?? (await job.count()),
      onEvent: (e) => {
        // a walk restarted or a store call retried: the final sweep's default (final-sweep.ts)
        if (disturbs(e)) job.disturbed = true;
        emit(e as BackfillEvent);
      },
      ...(options.retryDead === true
        ? {
            instead: async (io, size) => {
              retried = await job.retryDeadLetters(io, size);
            },
          }
        : {}),
    });
    const result = await finish(ctx, m, job, summary, options, retried);
    emit({ type: 'done', result });
    return result;
  } finally {
    await targetStore?.close();
  }
}

/** Refuse what cannot run, before anything is written. */
function preflight(m: Migration, o: BackfillOptions): void {
  const where = { ...(m.file !== undefined ? { file: m.file } : {}) };
  if (m.isEmpty)
    throw new BackfillRefusedError(`migration ${m.id} has no operations and no up() yet`, {
      ...where,
      field: 'operations',
    });
  const needsJournal = o.journal === false ? whyJournalNeeded(m) : undefined;
  if (needsJournal) throw new BackfillRefusedError(needsJournal, { field: '--no-journal' });
  for (const [name, v] of [
    ['batchSize', o.batchSize ?? DEFAULT_BATCH_SIZE],
    ['concurrency', o.concurrency ?? DEFAULT_CONCURRENCY],
    ['partitions', o.partitions ?? 1],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new UsageError(`${name} must be a positive integer, got ${v}`, { field: name });
  }
}

/**
 * Side by side: the copy starts only once the application writes both sides (stage dual-write or
 * later) or catch-up follows the source's change feed: otherwise a source document changed after
 * it was copied would never reach the target.
 */
async function checkStage(ctx: EngineContext, m: Migration, o: BackfillOptions): Promise<void> {
  const state = sideBySideState(await ctx.catalog.get(m.id));
  const stage = state.stage;
  if (stage !== Stage.off && stage !== Stage.complete) {
    // applications read the stage every refresh interval (1 s by default): one that has not
    // seen dual-write yet writes the source only, and a copy made before its write would stay
    // stale. Let them all catch up first.
    const since = state.changedAt !== undefined ? Date.parse(state.changedAt) : 0;
    const wait = since + (o.stageSettleMs ?? DEFAULT_STAGE_SETTLE_MS) - Date.now();
    if (stage === Stage.dualWrite && wait > 0) await sleep(wait, o.signal);
    return;
  }
  // catch-up from the change feed (catchup.ts) carries every change made after its start to
  // the target, like dual writes do: with it started, the stage may stay off
  if (stage === Stage.off && (await catchupStarted(ctx.stateStore, m.id))) return;
  const why =
    stage === Stage.off
      ? `migration ${m.id} is side by side and its stage is off: start the application's dual writes first (switchyard stage ${m.id} dual-write), or catch-up from the source's change feed (switchyard catchup ${m.id}), then backfill the rest`
      : `migration ${m.id} is complete`;
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'backfill',
    migration: m.id,
    outcome: `refused: ${why}`,
  });
  throw new BackfillRefusedError(why, { field: 'stage' });
}

/** Register, check the status, mark backfilling, audit. */
async function start(
  ctx: EngineContext,
  m: Migration,
  o: BackfillOptions,
  journaling: boolean,
): Promise<CatalogEntry> {
  const { catalog, audit, actor } = ctx;
  await catalog.register(registration(m), { force: o.force === true });
  // the schema registry (#17) records the versions' schemas; never throws
  const io = looseIo({ signal: o.signal, onEvent: (e) => o.onEvent?.(e as BackfillEvent) });
  await recordMigrationSchemas(ctx, m, (what, fn) => io.retrying(what, fn));
  const params = {
    batchSize: o.batchSize ?? DEFAULT_BATCH_SIZE,
    concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
    rate: o.rate ?? null,
    partitions: o.partitions ?? DEFAULT_PARTITIONS,
    journal: journaling,
    worker: defaultWorker(o.workerId).id,
    retryDead: o.retryDead === true,
    ...(o.canary !== undefined ? { canary: { ...o.canary } } : {}),
  };
  const why = o.reason !== undefined ? { reason: o.reason } : {};
  let refused: string | undefined;
  let sweep = false;
  let freshCanary = false;
  const entry = await catalog.update(m.id, (e) => {
    refused = undefined;
    if (e.status === MigrationStatus.complete) refused = `migration ${m.id} is complete`;
    else if (e.status === MigrationStatus.rollingBack)
      refused = `migration ${m.id} is being rolled back; let the rollback finish first`;
    if (refused !== undefined) return e;
    refused = refuseCanary(e, o.canary);
    if (refused !== undefined) return e;
    const journaled = (e.journal as boolean | undefined) ?? journaling;
    if (
      journaled &&
      !journaling &&
      e.status !== MigrationStatus.pending &&
      e.status !== MigrationStatus.rolledBack
    ) {
      refused = `migration ${m.id} started with the journal; it cannot continue without it`;
      return e;
    }
    // run again after it finished: a new sweep over everything (documents already at `to` are
    // skipped cheaply), which picks up what the application wrote in the old shape since
    sweep =
      (e.status === MigrationStatus.backfilled || e.status === MigrationStatus.verified) &&
      o.retryDead !== true;
    // a canary run after a finished one walks its subset afresh (a wider limit goes on from the
    // journal's count); a plain backfill after a canary is the full one: the canary is history
    freshCanary = o.canary !== undefined && e.status === MigrationStatus.canary;
    // --retry-dead after a canary retries the canary's dead letters: it stays a canary
    const retryInCanary = o.retryDead === true && e.status === MigrationStatus.canary;
    const modeChanged = freshCanary || (o.canary !== undefined) !== (e.canary !== undefined);
    const { canary: _c, ...rest } = e;
    return {
      ...(o.canary !== undefined
        ? { ...e, canary: canaryEntry(o.canary) }
        : retryInCanary
          ? e
          : rest),
      status: retryInCanary ? MigrationStatus.canary : MigrationStatus.backfilling,
      ...(sweep || (modeChanged && !retryInCanary) ? { progress: undefined } : {}),
      journal: journaling,
      control: { ...controlOf(e, JobPass.backfill), paused: false },
      startedAt: e.startedAt ?? new Date().toISOString(),
    };
  });
  const record = (outcome: string) =>
    audit.append({ actor, command: 'backfill', migration: m.id, params, ...why, outcome });
  if (refused !== undefined) {
    await record(`refused: ${refused}`);
    throw new BackfillRefusedError(refused);
  }
  if (sweep) await new Partitions(ctx.stateStore).clear(m.id);
  if (freshCanary) await new Partitions(ctx.stateStore).clear(canaryPlanKey(m.id));
  await record('started');
  return entry;
}

/** What the run came to: rolled back after a guard, stopped, or backfilled (with its records). */
async function finish(
  ctx: EngineContext,
  m: Migration,
  job: BackfillJob,
  run: RunSummary,
  o: BackfillOptions,
  retried?: RetryDeadSummary,
): Promise<BackfillResult> {
  const progress = run.progress as BackfillProgress;
  const base = {
    migration: m.id,
    progress,
    ...(run.trip !== undefined ? { trip: run.trip } : {}),
    ...(retried !== undefined ? { retryDead: retried } : {}),
  };
  if (run.outcome === 'guard-tripped') {
    const trip = run.trip!;
    // a guard rolls back with autoRollback; a threshold as its action says (runner/thresholds.ts)
    const rollingBack = trip.action !== undefined ? trip.action === 'rollback' : o.autoRollback;
    const what = trip.guard === 'threshold' ? 'threshold reached' : 'guard tripped';
    if (rollingBack !== true)
      return {
        ...base,
        outcome: 'guard-tripped',
        message: `${what}: ${trip.message}. The migration is paused; see the dead letters and the audit log, then run backfill again (--retry-dead retries the failures) or roll it back.`,
      };
    const rolledBack = await rollback(ctx, m, {
      reason:
        trip.guard === 'threshold'
          ? `threshold ${trip.metric} > ${trip.limit}: ${trip.message}`
          : `auto-rollback: guard ${trip.guard} tripped: ${trip.message}`,
    });
    return {
      ...base,
      outcome: 'rolled-back',
      message: `${what} (${trip.message}); rolled back: ${rolledBack.restored} restored, ${rolledBack.downcast} turned back with down(), ${rolledBack.conflicts} conflicts kept`,
      rollback: rolledBack,
    };
  }
  if (run.outcome !== 'done' || o.signal?.aborted === true) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'backfill',
      migration: m.id,
      params: { worker: run.worker.id },
      outcome: `stopped at ${progress.done}/${progress.total}`,
    });
    return {
      ...base,
      outcome: 'aborted',
      message:
        run.message ??
        `stopped at ${progress.done}/${progress.total}; run backfill again to resume from the checkpoints`,
    };
  }
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
  const io = looseIo({
    signal: o.signal,
    onEvent: (e) => o.onEvent?.(e as BackfillEvent),
    limit: batchSize,
  });
  let message = `backfilled ${m.collection}: ${progress.migrated} migrated, ${progress.skipped} skipped (already at v${m.to}, or left as they are by onInvalid 'skip'), ${progress.conflicts} conflicts retried, ${progress.deadLetters} dead letters`;
  if (job instanceof CopyBackfillJob && job.overwrites) {
    const removed = await job.sweepTargetExtras(io, batchSize);
    message = `copied ${m.collection} to ${m.allTargets.map((t) => t.target!.collection).join(' and ')}: ${progress.migrated} written, ${progress.skipped} already right or written by the application, ${removed} target documents without a source removed, ${progress.deadLetters} dead letters`;
  }
  // --retry-dead says what this run did, not the backfill's totals
  if (retried !== undefined) message = retryDeadMessage(m, retried);
  const check = await job.endCheck?.(io);
  if (check !== undefined && check.left > 0) {
    // the walks are done but not the work: the next run plans afresh and walks everything again
    // (documents already at `to` are skipped cheaply), instead of joining this finished plan
    await io.retrying('partitions', () => new Partitions(ctx.stateStore).clear(m.id));
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'backfill',
      migration: m.id,
      params: { left: check.left },
      outcome: `incomplete: ${check.message}`,
    });
    return { ...base, outcome: 'incomplete', message: check.message };
  }
  const allFailed = o.retryDead === true ? undefined : everyDocumentFailed(progress);
  if (allFailed !== undefined) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'backfill',
      migration: m.id,
      params: { migrated: progress.migrated, errors: progress.errors },
      outcome: `incomplete: ${allFailed}`,
    });
    return { ...base, outcome: 'incomplete', message: allFailed };
  }
  if (job instanceof CanaryBackfillJob) return finishCanary(ctx, m, job, progress, base);
  let changed = false;
  await ctx.catalog.update(m.id, (e) => {
    changed = e.status === MigrationStatus.backfilling;
    return changed
      ? { ...e, status: MigrationStatus.backfilled, backfilledAt: new Date().toISOString() }
      : e;
  });
  if (changed) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'backfill',
      migration: m.id,
      params: {
        migrated: progress.migrated,
        skipped: progress.skipped,
        conflicts: progress.conflicts,
        deadLetters: progress.deadLetters,
        ...(retried !== undefined ? { retryDead: { ...retried } } : {}),
      },
      outcome: 'backfilled',
    });
  }
  return { ...base, outcome: 'backfilled', message };
}

function retryDeadMessage(m: Migration, r: RetryDeadSummary): string {
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  return `retried ${plural(r.retried, 'dead letter')} of ${m.collection}: ${r.fixed} fixed, ${r.gone} gone (document deleted), ${r.stillDead} still dead`;
}
