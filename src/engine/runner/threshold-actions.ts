/**
 * What a threshold that fired does to the running job (thresholds.ts has the rules): the audit
 * entry and the event every firing gets, and the action's own effect — a lower rate in the
 * job's control (`throttle`), a pause of the job (`pause`, `rollback`). The rollback itself is
 * the operation's (engine/backfill.ts runs it after the run, as `--auto-rollback` does); for
 * the other jobs a `rollback` pauses and names the command to run.
 */
import type { AuditLog } from '../../state/audit-log.js';
import type { Catalog } from '../../state/catalog.js';
import { setThrottle, withControl } from './control.js';
import type { GuardTrip } from './guards.js';
import { JobPass } from './job.js';
import { MIN_THROTTLED_RATE, type ThresholdFiring } from './thresholds.js';

type Ctx = { catalog: Catalog; audit: AuditLog; actor: string };

/** What a firing came to, for the runner: go on, or stop the run with this trip. */
export type FiringEffect = { stop?: GuardTrip; rate?: number; rollbackCommand?: string };

/** The rate a throttle sets: half the rate in force, or half the measured one when unlimited. */
export function throttledRate(rate: number, measured: number): number {
  const from = rate > 0 ? rate : measured;
  return Math.max(MIN_THROTTLED_RATE, Math.floor(from / 2));
}

/** The exact command that rolls a migration back, for jobs whose rollback is not automated. */
export function rollbackCommand(migration: string, f: ThresholdFiring): string {
  return `switchyard rollback ${migration} --reason "threshold ${f.metric} > ${f.above}"`;
}

export async function fireThreshold(
  ctx: Ctx,
  job: { migration: string; pass: JobPass },
  f: ThresholdFiring,
  counts: Record<string, number>,
  rates: { rate: number; measured: number },
): Promise<FiringEffect> {
  const effect: FiringEffect = {};
  let outcome: string;
  const reason = `threshold ${f.message}`;
  if (f.action === 'throttle') {
    const rate = throttledRate(rates.rate, rates.measured);
    await setThrottle(ctx, job.migration, { rate }, reason, job.pass);
    effect.rate = rate;
    outcome = `throttled to ${rate} docs/s`;
  } else if (f.action === 'pause' || f.action === 'rollback') {
    await ctx.catalog.update(job.migration, (e) =>
      withControl(e, job.pass, { paused: true, reason, by: 'threshold' }),
    );
    const automated = job.pass === JobPass.backfill;
    if (f.action === 'rollback' && !automated)
      effect.rollbackCommand = rollbackCommand(job.migration, f);
    outcome =
      f.action === 'pause'
        ? 'paused'
        : automated
          ? 'paused; rolling back'
          : `paused; roll back with: ${effect.rollbackCommand}`;
    effect.stop = {
      guard: 'threshold',
      value: f.value,
      limit: f.above,
      message:
        effect.rollbackCommand !== undefined
          ? `${f.message} (the ${job.pass} is paused; to roll back: ${effect.rollbackCommand})`
          : f.message,
      metric: f.metric,
      action: f.action,
    };
  } else outcome = 'alerted';
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'threshold',
    migration: job.migration,
    params: {
      metric: f.metric,
      value: f.value,
      above: f.above,
      action: f.action,
      job: job.pass,
      ...counts,
      ...(effect.rate !== undefined ? { rate: effect.rate } : {}),
    },
    reason: f.message,
    outcome,
  });
  return effect;
}
