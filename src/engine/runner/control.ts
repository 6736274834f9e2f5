/**
 * The controls of a running job, kept in its migration's catalog entry so that every worker, on
 * any machine, reads them before each batch: pause (who, why), a rate and a batch size.
 *
 * Rules:
 * - each kind of job has its own control and its own published progress in the entry: backfill
 *   `control` and `progress`, verify `verifyControl` and `verifyProgress`, rollback
 *   `rollbackControl` and `rollbackProgress` (a rollback pauses the backfill's control to stop its
 *   workers, and must not pause itself doing so);
 * - pausing a backfill also moves the status (backfilling <-> paused); a verify or a rollback has
 *   no status of its own: only its flag moves;
 * - the refusals are made here, once, inside the conditional catalog update (so they judge the
 *   state they would change): a migration that has not started, a job that is not running, and
 *   a resume of a backfill that is not paused; the CLI and the dashboard only call setPaused;
 * - a rate set here (`setThrottle`) wins over the rate a worker was started with, for every
 *   worker, within one batch;
 * - every change is audited (refusals too); so is a guard trip, which pauses the job.
 */
import { InputError } from '../../core/errors.js';
import type { AuditLog } from '../../state/audit-log.js';
import { MigrationStatus, type Catalog, type CatalogEntry } from '../../state/catalog.js';
import type { GuardTrip } from './guards.js';
import { JobPass } from './job.js';

export interface JobControl {
  paused: boolean;
  reason?: string;
  by?: string;
  rate?: number;
  batchSize?: number;
}

/**
 * A pause, resume or throttle that cannot apply (not started, no such job running, a resume of a
 * backfill that is not paused). Nothing was changed; the refusal is audited.
 */
export class ControlRefusedError extends InputError {
  override readonly code = 'E_CONTROL_REFUSED';
}

type ControlContext = { catalog: Catalog; audit: AuditLog; actor: string };

/** The catalog entry field holding a job's control. */
export function controlField(pass: JobPass): string {
  return pass === JobPass.backfill
    ? 'control'
    : `${pass === JobPass.catchup ? 'catchup' : pass}Control`;
}

/** The catalog entry field a job's progress is published to. */
export function progressField(pass: JobPass): string {
  return pass === JobPass.backfill
    ? 'progress'
    : pass === JobPass.catchup
      ? 'catchup'
      : `${pass}Progress`;
}

export function controlOf(entry: CatalogEntry | null, pass: JobPass): JobControl {
  return (entry?.[controlField(pass)] as JobControl | undefined) ?? { paused: false };
}

/** The entry with a job's control changed (a backfill's pause moves the status too). */
export function withControl(
  e: CatalogEntry,
  pass: JobPass,
  change: Partial<JobControl>,
): CatalogEntry {
  const control = { ...controlOf(e, pass), ...change };
  const status =
    pass === JobPass.backfill && change.paused !== undefined
      ? change.paused
        ? MigrationStatus.paused
        : MigrationStatus.backfilling
      : e.status;
  return { ...e, status, [controlField(pass)]: control };
}

/**
 * Which job a pause, resume or throttle without a named job means: the rollback while one runs,
 * else the backfill.
 */
export function defaultPass(entry: CatalogEntry): JobPass {
  return entry.status === MigrationStatus.rollingBack ? JobPass.rollback : JobPass.backfill;
}

/**
 * Why a backfill cannot be resumed (undefined: it is paused, it can): resuming anything else (a
 * running backfill, a finished or rolled-back migration) would do nothing, and saying "ok" would
 * tell the operator something that did not happen.
 */
function resumeRefusal(id: string, entry: CatalogEntry): string | undefined {
  if (entry.status === MigrationStatus.paused) return undefined;
  return `migration ${id} is ${entry.status}, not paused: there is nothing to resume`;
}

/** Why a job cannot be paused or resumed in this entry (undefined: it can). */
function pauseRefusal(
  id: string,
  e: CatalogEntry,
  pass: JobPass,
  paused: boolean,
): string | undefined {
  if (!paused && pass === JobPass.backfill) return resumeRefusal(id, e);
  const active =
    pass === JobPass.backfill
      ? e.status === MigrationStatus.backfilling || e.status === MigrationStatus.paused
      : pass === JobPass.rollback
        ? e.status === MigrationStatus.rollingBack
        : true;
  return active
    ? undefined
    : `migration ${id} is ${e.status}: only a ${pass} that is running or paused can be ${paused ? 'paused' : 'resumed'}`;
}

/** Set or clear the pause flag of a job (default: see defaultPass); refusals: see the rules. */
export async function setPaused(
  ctx: ControlContext,
  migrationId: string,
  paused: boolean,
  reason?: string,
  job?: JobPass,
): Promise<CatalogEntry> {
  let refused: string | undefined;
  let pass: JobPass = job ?? JobPass.backfill;
  let entry: CatalogEntry | null = await ctx.catalog.get(migrationId);
  if (entry === null)
    refused = `migration ${migrationId} has not started: there is nothing to ${paused ? 'pause' : 'resume'}`;
  else
    entry = await ctx.catalog.update(migrationId, (e) => {
      pass = job ?? defaultPass(e);
      refused = pauseRefusal(migrationId, e, pass, paused);
      if (refused !== undefined) return e;
      return withControl(e, pass, {
        paused,
        by: ctx.actor,
        ...(reason !== undefined ? { reason } : {}),
      });
    });
  await ctx.audit.append({
    actor: ctx.actor,
    command: paused ? 'pause' : 'resume',
    migration: migrationId,
    ...(pass !== JobPass.backfill ? { params: { job: pass } } : {}),
    ...(reason !== undefined ? { reason } : {}),
    outcome: refused ? `refused: ${refused}` : 'ok',
  });
  if (refused !== undefined || entry === null)
    throw new ControlRefusedError(refused ?? migrationId);
  return entry;
}

/** Change the throughput settings of a job; every worker picks them up within a batch. */
export async function setThrottle(
  ctx: ControlContext,
  migrationId: string,
  settings: { rate?: number; batchSize?: number },
  reason?: string,
  job?: JobPass,
): Promise<CatalogEntry> {
  let pass: JobPass = job ?? JobPass.backfill;
  const entry = await ctx.catalog.update(migrationId, (e) => {
    pass = job ?? defaultPass(e);
    return { ...e, [controlField(pass)]: { ...controlOf(e, pass), ...settings } };
  });
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'throttle',
    migration: migrationId,
    params: { ...settings, ...(pass !== JobPass.backfill ? { job: pass } : {}) },
    ...(reason !== undefined ? { reason } : {}),
    outcome: 'ok',
  });
  return entry;
}

/** A guard tripped: the job is paused (every worker stops before its next batch), audited. */
export async function pauseForGuard(
  ctx: ControlContext,
  job: { migration: string; pass: JobPass },
  trip: GuardTrip,
  counts: Record<string, number>,
  rollingBack: boolean,
): Promise<void> {
  await ctx.catalog.update(job.migration, (e) =>
    withControl(e, job.pass, {
      paused: true,
      reason: `guard ${trip.guard}: ${trip.message}`,
      by: 'guard',
    }),
  );
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'guard.trip',
    migration: job.migration,
    params: { guard: trip.guard, value: trip.value, limit: trip.limit, ...counts },
    outcome: rollingBack ? 'paused; rolling back' : 'paused',
  });
}
