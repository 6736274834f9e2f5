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

/** A pause, resume or throttle that cannot apply (no such job running). Nothing was changed. */
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

/** Set or clear the pause flag of a job (default: see defaultPass). */
export async function setPaused(
  ctx: ControlContext,
  migrationId: string,
  paused: boolean,
  reason?: string,
  job?: JobPass,
): Promise<CatalogEntry> {
  let refused: string | undefined;
  let pass: JobPass = job ?? JobPass.backfill;
  const entry = await ctx.catalog.update(migrationId, (e) => {
    refused = undefined;
    pass = job ?? defaultPass(e);
    const active =
      pass === JobPass.backfill
        ? e.status === MigrationStatus.backfilling || e.status === MigrationStatus.paused
        : pass === JobPass.rollback
          ? e.status === MigrationStatus.rollingBack
          : true;
    if (!active) {
      refused = `migration ${migrationId} is ${e.status}: only a ${pass} that is running or paused can be ${paused ? 'paused' : 'resumed'}`;
      return e;
    }
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
  if (refused) throw new ControlRefusedError(refused, { field: 'id' });
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
