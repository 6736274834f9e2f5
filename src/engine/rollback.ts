/**
 * rollback: put an in-place migration's documents back as they were, exactly, without losing
 * what the application wrote since. The work is a job on the runner (jobs/rollback.ts says what
 * happens to each document): partitioned over the collection's ranges, so several processes on
 * several machines share one rollback (`workerId`, `partitions`, `concurrency`), a killed
 * worker's partitions are taken over, and a killed rollback, run again, continues from its
 * checkpoints; throttled and paused like a backfill (`switchyard pause <id>` while it runs).
 *
 * This file is what starts and ends it:
 * - refusals (never started; complete; no journal and no exact inverse; side by side; a journal
 *   entry whose seal does not verify: state/journal.ts, checked before anything is restored),
 *   audited;
 * - the start: status rolling-back (running backfill workers read it before their next batch and
 *   stop), the backfill's pause flag set; a fresh rollback (not the resumption of one that was
 *   interrupted) starts with no recorded conflicts;
 * - whether the journal is used is decided once per run, by the worker that plans it (the journal
 *   has entries and the backfill kept it), and is the same for every worker and resumption;
 * - the end, once (the worker that marks the plan finished; the others return its result): the
 *   backfill's partitions (a canary's too), the journal and the dead letters are dropped, so a new
 *   backfill starts from scratch; the status becomes rolled-back with the counts; audited.
 */
import { randomUUID } from 'node:crypto';
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { rollbackBlockedBy } from '../state/chain-order.js';
import { DeadLetters } from '../state/dead-letters.js';
import { Journal } from '../state/journal.js';
import { Partitions } from '../state/partitions.js';
import type { Collection, Store } from '../store/contract.js';
import type { EngineContext } from './context.js';
import {
  conflictsCollectionName,
  mergeRollbackData,
  RollbackJob,
  type RollbackCounts,
} from './jobs/rollback.js';
import { canaryPlanKey } from './jobs/backfill-canary.js';
import { disturbs, finalSweep, rollbackLeft, sweepWanted } from './jobs/final-sweep.js';
import { controlOf, withControl } from './runner/control.js';
import type { GuardTrip } from './runner/guards.js';
import { JobPass, type JobProgress, type RunnerEvent } from './runner/job.js';
import { estimatedTotal, type ProgressSnapshot } from './runner/progress.js';
import { looseIo, workerRunOptions, type WorkerOptions } from './runner/options.js';
import { retryAfterRun } from './runner/retry.js';
import { runJob } from './runner/runner.js';

export { conflictsCollectionName, type RollbackCounts };

export const DEFAULT_ROLLBACK_BATCH_SIZE = 500;
export const DEFAULT_ROLLBACK_PARTITIONS = 8;

export type RollbackContext = EngineContext;

export interface RollbackOptions extends WorkerOptions {
  reason?: string;
  /** the progress with the counts so far, about once a second */
  onProgress?: (p: ProgressSnapshot & RollbackCounts) => void;
  /** every event of the run (leases, batches, retries, progress) */
  onEvent?: (e: RunnerEvent) => void;
  /** conflicts kept in the report (default 20) */
  maxSamples?: number;
  /**
   * walk the collection once more before "rolled-back" and end `incomplete` (the journal kept) if
   * documents were left at `to` (jobs/final-sweep.ts). Default: on where scan cursors are tied to
   * a server process (Redis) and the run saw a walk restarted or a store call retried; off
   * elsewhere.
   */
  finalSweep?: boolean;
}

export interface RollbackResult extends RollbackCounts {
  migration: string;
  /**
   * incomplete: the final sweep found documents still at `to` (`message` says how many);
   * paused: a threshold paused the rollback (`trip`, `message`); run rollback again to continue
   */
  outcome: 'rolled-back' | 'aborted' | 'incomplete' | 'paused';
  message?: string;
  /** the threshold that paused it (outcome paused) */
  trip?: GuardTrip;
  usedJournal: boolean;
  conflictSamples: { key: string; reason: string }[];
  elapsedSeconds: number;
}

export class RollbackRefusedError extends InputError {
  override readonly code = 'E_ROLLBACK_REFUSED';
}

export async function rollback(
  ctx: RollbackContext,
  migration: Migration,
  options: RollbackOptions = {},
): Promise<RollbackResult> {
  const started = Date.now();
  const m = migration;
  const maxSamples = options.maxSamples ?? 20;
  const journal = new Journal(ctx.stateStore, m.id);
  const entry = await start(ctx, m, options);
  const job = new RollbackJob(ctx, m, {
    maxSamples,
    usedJournal: async () => entry.journal !== false && (await journal.count()) > 0,
  });
  // a walk restarted or a store call retried: the final sweep's default (final-sweep.ts)
  let disturbed = false;
  const run = await runJob(ctx, job, {
    ...workerRunOptions(options, {
      partitions: DEFAULT_ROLLBACK_PARTITIONS,
      concurrency: 1,
      batchSize: DEFAULT_ROLLBACK_BATCH_SIZE,
    }),
    total: () => estimatedTotal(ctx.store.collection(m.collection)),
    onEvent: (e) => {
      if (disturbs(e)) disturbed = true;
      options.onEvent?.(e);
      if (e.type === 'progress') options.onProgress?.(rollbackProgress(e.progress));
    },
  });
  const usedJournal = run.plan.params?.usedJournal === true;
  const merged = mergeRollbackData(run.states, maxSamples);
  const result = (outcome: RollbackResult['outcome']): RollbackResult => ({
    migration: m.id,
    outcome,
    usedJournal,
    restored: merged.restored,
    downcast: merged.downcast,
    untouched: merged.untouched,
    conflicts: merged.conflicts,
    ...(merged.emittedRemoved !== undefined ? { emittedRemoved: merged.emittedRemoved } : {}),
    conflictSamples: merged.samples,
    elapsedSeconds: Math.round((Date.now() - started) / 100) / 10,
  });
  if (run.outcome === 'guard-tripped' && run.trip !== undefined) {
    // a threshold paused the rollback (runner/threshold-actions.ts audited the firing); the
    // migration stays rolling-back, and the next `rollback` clears the pause and continues
    const message = `threshold reached: ${run.trip.message}. The rollback is paused (still rolling-back); run rollback again to continue from its checkpoints`;
    await audit(ctx, m, options, { ...merged, usedJournal }, `paused: ${run.trip.message}`);
    return { ...result('paused'), message, trip: run.trip };
  }
  if (run.outcome !== 'done') {
    await audit(
      ctx,
      m,
      options,
      { ...merged, usedJournal },
      'stopped; run rollback again to continue',
    );
    return result('aborted');
  }
  const partitions = new Partitions(ctx.stateStore);
  // where a walk can lose its place (Redis), one more walk confirms that nothing was left at
  // `to` before the journal is dropped for good (jobs/final-sweep.ts)
  const source = ctx.store.collection(m.collection);
  if (sweepWanted(source, options.finalSweep, disturbed)) {
    const batchSize = options.batchSize ?? DEFAULT_ROLLBACK_BATCH_SIZE;
    const io = looseIo({ signal: options.signal, limit: batchSize });
    const conflicts = ctx.stateStore.collection(conflictsCollectionName(m.id));
    const sweep = await finalSweep(source, io, batchSize, rollbackLeft(m, conflicts));
    if (sweep.left > 0) {
      // the next run walks everything afresh; the journal stays
      await retryAfterRun('clean up', () => partitions.clear(job.key));
      const message = `${sweep.left} of the ${sweep.seen} documents of ${m.collection} are still at v${m.to} after every partition was walked (${sweep.keys.join(', ')}${sweep.left > sweep.keys.length ? ', ...' : ''}): a walk lost its place (a server restart or failover), or the application wrote them in the new shape since. The journal is kept; run rollback again: it walks everything afresh`;
      await audit(
        ctx,
        m,
        options,
        { ...merged, usedJournal, left: sweep.left },
        `incomplete: ${message}`,
      );
      return { ...result('incomplete'), message };
    }
  }
  const done = result('rolled-back');
  const { samples: _s, ...counts } = merged;
  const finishMark = randomUUID();
  const mark = await retryAfterRun('finish', () =>
    partitions.finishPlan(run.plan, run.worker.id, { ...counts }, finishMark),
  );
  if (!mark.won) return done; // another worker ended it (and recorded it)
  // done: forget the run, so a new backfill starts from scratch
  await retryAfterRun('clean up', () => partitions.clear(m.id));
  await retryAfterRun('clean up', () => partitions.clear(canaryPlanKey(m.id)));
  await retryAfterRun('clean up', () => journal.drop());
  await retryAfterRun('clean up', () => new DeadLetters(ctx.stateStore, m.id).drop());
  await ctx.catalog.update(m.id, (e) => {
    // a canary rolled back is over: its subset is as it was
    const { progress: _p, canary: _c, ...rest } = e;
    return {
      ...rest,
      status: MigrationStatus.rolledBack,
      rolledBackAt: new Date().toISOString(),
      control: { paused: false },
      lastRollback: { ...counts },
    };
  });
  await audit(
    ctx,
    m,
    options,
    { ...counts, usedJournal },
    counts.conflicts > 0 ? `rolled back, ${counts.conflicts} conflicts kept` : 'rolled back',
  );
  return done;
}

function rollbackProgress(p: JobProgress): ProgressSnapshot & RollbackCounts {
  return {
    done: p.done,
    total: p.total,
    rate: p.rate,
    etaSeconds: p.etaSeconds,
    elapsedSeconds: p.elapsedSeconds,
    restored: Number(p.restored ?? 0),
    downcast: Number(p.downcast ?? 0),
    untouched: Number(p.untouched ?? 0),
    conflicts: Number(p.conflicts ?? 0),
  };
}

function audit(
  ctx: RollbackContext,
  m: Migration,
  options: RollbackOptions,
  params: Record<string, unknown>,
  outcome: string,
): Promise<unknown> {
  return ctx.audit.append({
    actor: ctx.actor,
    command: 'rollback',
    migration: m.id,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    params,
    outcome,
  });
}

/** Check the status, stop running backfill workers, mark rolling-back. */
async function start(
  ctx: RollbackContext,
  m: Migration,
  options: RollbackOptions,
): Promise<CatalogEntry> {
  let refused: string | undefined;
  const existing = await ctx.catalog.get(m.id);
  if (existing === null) {
    refused = `migration ${m.id} has not started: there is nothing to roll back`;
  } else if (existing.status === MigrationStatus.complete) {
    refused = `migration ${m.id} is complete: its journal was deleted, so it can no longer be rolled back. Write a new migration that goes back.`;
  } else if (existing.journal === false && !m.reversible) {
    refused = `migration ${m.id} ran without the journal and has no exact inverse (${m.lossy.map((l) => l.step).join('; ')}): it cannot be rolled back exactly`;
  } else if (m.kind !== 'in-place') {
    refused = `migration ${m.id} is side by side: roll it back by stepping its stage back`;
  } else {
    refused = rollbackBlockedBy(await ctx.catalog.list(), m);
  }
  // a fresh rollback checks the whole journal first; a resumed one (rolling-back) must be able to
  // finish: its job keeps every entry that does not verify as a conflict (jobs/rollback.ts)
  if (
    refused === undefined &&
    existing?.journal !== false &&
    existing?.status !== MigrationStatus.rollingBack
  )
    refused = await journalRefusal(ctx, m);
  for (const [name, v] of [
    ['batchSize', options.batchSize ?? 1],
    ['partitions', options.partitions ?? 1],
    ['concurrency', options.concurrency ?? 1],
  ] as const) {
    if (refused === undefined && (!Number.isInteger(v) || v < 1))
      throw new RollbackRefusedError(`${name} must be a positive integer, got ${v}`, {
        field: name,
      });
  }
  if (refused !== undefined) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'rollback',
      migration: m.id,
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      outcome: `refused: ${refused}`,
    });
    throw new RollbackRefusedError(refused);
  }
  let fresh = false;
  const entry = await ctx.catalog.update(m.id, (e) => {
    fresh = e.status !== MigrationStatus.rollingBack;
    // running backfill workers read this before their next batch and stop
    const stopped = withControl(e, JobPass.backfill, {
      paused: true,
      reason: 'rolling back',
      by: ctx.actor,
    });
    return {
      ...stopped,
      status: MigrationStatus.rollingBack,
      rollbackControl: fresh
        ? { paused: false }
        : { ...controlOf(e, JobPass.rollback), paused: false },
    };
  });
  // a fresh rollback (not the resumption of one that was interrupted) starts with no conflicts
  if (fresh) await ctx.stateStore.dropCollection(conflictsCollectionName(m.id));
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'rollback',
    migration: m.id,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    outcome: 'started',
  });
  return entry;
}

/** Why the journal cannot be trusted (entries whose seal does not verify), or undefined. */
async function journalRefusal(ctx: RollbackContext, m: Migration): Promise<string | undefined> {
  const check = await new Journal(ctx.stateStore, m.id).verify();
  if (check.bad === 0) return undefined;
  const keys = check.samples.map((s) => `${s.key} (${s.problem})`).join(', ');
  const more =
    check.bad > check.samples.length ? `, and ${check.bad - check.samples.length} more` : '';
  return `the undo journal of ${m.id} does not verify: ${check.bad} of ${check.entries} entries were changed after the backfill wrote them: ${keys}${more}. Nothing was restored. Find out who changed the journal (${new Journal(ctx.stateStore, m.id).collectionName}) before trusting it; documents can still be turned back by hand or with a new migration`;
}

export async function listConflicts(
  stateStore: Store,
  migrationId: string,
  limit = 100,
): Promise<{ key: string; reason: string }[]> {
  const c: Collection = stateStore.collection(conflictsCollectionName(migrationId));
  const page = await c.scan({ limit });
  return page.items.map((s) => ({ key: s.key, reason: String(s.doc.reason) }));
}
