/**
 * What the long-running jobs alert about, as listeners and small builders over their results
 * (alerts.ts posts them). The engines know nothing of alerts; the CLI attaches these.
 *
 * Rules:
 * - backfill (`BackfillAlerts.onEvent`, attached to the backfill's events):
 *   - `guard-trip` event -> `guard-tripped` (at the moment it trips, before any auto-rollback);
 *   - `threshold` event -> `threshold` (every firing of a config threshold, whatever its action);
 *   - `lease` event taken over from another worker -> `worker-died`, once per dead worker per run
 *     (a dead worker held up to --concurrency partitions; the first takeover names it);
 *   - `progress` with dead letters >= the threshold -> `dead-letters`, once per run (a run that
 *     starts above the threshold alerts once, at its first progress);
 *   - `done` with outcome rolled-back (auto-rollback) -> `rolled-back`;
 * - verify: a report that is not ok -> `verify-drift`; rollback: its result -> `rolled-back`;
 * - any job: a failure that is not bad input (exit 3) -> `job-failed`;
 * - alerts carry counts, names and field paths; never document contents, keys or store URLs.
 */
import { SwitchyardError } from '../core/errors.js';
import type { BackfillEvent } from '../engine/backfill.js';
import type { RollbackResult } from '../engine/rollback.js';
import type { RunnerEvent } from '../engine/runner/job.js';
import type { VerifyReport } from '../engine/verify.js';
import { AlertType, type AlertInput, type AlertSink } from './alerts.js';

export interface BackfillAlertOptions {
  /** alert once when the migration's dead letters reach this many */
  deadLetterThreshold?: number;
}

/** The partition's number (0001) from its id (`<job>/<nonce>/<index>`). */
export function partitionLabel(partitionId: string): string {
  return partitionId.slice(partitionId.lastIndexOf('/') + 1);
}

export class BackfillAlerts {
  readonly #sink: AlertSink;
  readonly #migration: string;
  readonly #threshold: number | undefined;
  #worker: string | undefined;
  #deadLettersSent = false;
  readonly #deadWorkers = new Set<string>();

  constructor(sink: AlertSink, migration: string, options: BackfillAlertOptions = {}) {
    this.#sink = sink;
    this.#migration = migration;
    this.#threshold = options.deadLetterThreshold;
  }

  /** Attach as (part of) the backfill's onEvent. Never throws. */
  readonly onEvent = (e: BackfillEvent): void => {
    try {
      this.#handle(e);
    } catch {
      // an alert must never fail the job
    }
  };

  #handle(e: BackfillEvent): void {
    const m = this.#migration;
    switch (e.type) {
      case 'start':
        this.#worker = e.worker;
        return;
      case 'guard-trip':
        this.#sink.send({
          type: AlertType.guardTripped,
          migration: m,
          message: `guard ${e.trip.guard} tripped on ${m}: ${e.trip.message}; the migration is paused${e.autoRollback ? ' and is being rolled back' : ''}`,
          details: {
            guard: e.trip.guard,
            value: e.trip.value,
            limit: e.trip.limit,
            autoRollback: e.autoRollback,
            ...e.counts,
          },
        });
        return;
      case 'threshold':
        this.#sink.send(thresholdAlert(m, e));
        return;
      case 'lease': {
        const prev = e.takenOverFrom;
        if (prev === undefined) return;
        const who = `${prev.worker}${prev.pid !== null ? ` (pid ${prev.pid})` : ''}`;
        const key = `${prev.worker}\u0000${prev.host ?? ''}\u0000${prev.pid ?? ''}`;
        if (this.#deadWorkers.has(key)) return;
        this.#deadWorkers.add(key);
        this.#sink.send({
          type: AlertType.workerDied,
          migration: m,
          message: `worker ${who} of ${m} stopped renewing its lease (its process is gone or it stalled); ${this.#worker ?? 'another worker'} took over partition ${partitionLabel(e.partition)}`,
          details: {
            partition: partitionLabel(e.partition),
            previousWorker: prev.worker,
            previousHost: prev.host,
            previousPid: prev.pid,
            leaseExpiresAt: new Date(Number(prev.expiresAt)).toISOString(),
            takenOverBy: this.#worker ?? null,
            token: e.token,
          },
        });
        return;
      }
      case 'progress': {
        const t = this.#threshold;
        const p = e.progress;
        if (t === undefined || this.#deadLettersSent || p.deadLetters < t) return;
        this.#deadLettersSent = true;
        this.#sink.send({
          type: AlertType.deadLetters,
          migration: m,
          message: `${m} has ${p.deadLetters} dead letters (documents its transform could not migrate), threshold ${t}; see switchyard status, fix the migration, then backfill --retry-dead`,
          details: {
            deadLetters: p.deadLetters,
            threshold: t,
            scanned: p.scanned,
            errors: p.errors,
            done: p.done,
            total: p.total,
          },
        });
        return;
      }
      case 'done':
        if (e.result.rollback !== undefined)
          this.#sink.send(rollbackAlert(e.result.rollback, e.result.message));
        return;
      default:
        return;
    }
  }
}

/** `threshold`: a config threshold fired on a job of `migration` (any job: backfill, verify, rollback). */
export function thresholdAlert(
  migration: string,
  e: Extract<RunnerEvent, { type: 'threshold' }>,
): AlertInput {
  const f = e.firing;
  return {
    type: AlertType.threshold,
    migration,
    severity: f.action === 'alert' || f.action === 'throttle' ? 'warning' : 'critical',
    message: `threshold on ${migration}: ${f.message}${e.rate !== undefined ? ` (rate now ${e.rate} docs/s)` : ''}${e.rollbackCommand !== undefined ? `; to roll back: ${e.rollbackCommand}` : ''}`,
    details: {
      metric: f.metric,
      value: f.value,
      above: f.above,
      action: f.action,
      job: e.job,
      ...(e.rate !== undefined ? { rate: e.rate } : {}),
    },
  };
}

/** `verify-drift` for a report that is not ok; undefined when it is. */
export function verifyAlert(r: VerifyReport): AlertInput | undefined {
  if (r.ok) return undefined;
  const paths = Object.entries(r.paths)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([path, count]) => ({ path, count }));
  return {
    type: AlertType.verifyDrift,
    migration: r.migration,
    message: `verify ${r.migration} (${r.mode}) found drift: ${r.mismatched} mismatched, ${r.missing} missing, ${r.oldVersion} still at the old version, ${r.invariantFailures + r.schemaFailures} failing checks, of ${r.compared} compared`,
    details: {
      mode: r.mode,
      compared: r.compared,
      matched: r.matched,
      mismatched: r.mismatched,
      missing: r.missing,
      extra: r.extra,
      oldVersion: r.oldVersion,
      invariantFailures: r.invariantFailures,
      schemaFailures: r.schemaFailures,
      paths,
      divergentRanges: r.ranges.divergent.length,
      // side by side (verify-side-by-side.ts): up() failures and differences that went away
      ...pick(r as unknown as Record<string, unknown>, ['kind', 'transformErrors', 'settled']),
    },
  };
}

/** `rolled-back`: a warning when conflicts were kept, else information. */
export function rollbackAlert(r: RollbackResult, message?: string): AlertInput {
  return {
    type: AlertType.rolledBack,
    migration: r.migration,
    severity: r.conflicts > 0 || r.outcome !== 'rolled-back' ? 'warning' : 'info',
    message:
      message ??
      `${r.migration} ${r.outcome === 'rolled-back' ? 'rolled back' : 'rollback stopped'}: ${r.restored} restored, ${r.downcast} turned back with down(), ${r.conflicts} conflicts (the application's documents kept)`,
    details: {
      outcome: r.outcome,
      restored: r.restored,
      downcast: r.downcast,
      untouched: r.untouched,
      conflicts: r.conflicts,
      usedJournal: r.usedJournal,
      elapsedSeconds: r.elapsedSeconds,
    },
  };
}

/**
 * `job-failed` for an error that ended a command, or undefined for bad input (exit 2: nothing
 * ran, the person at the terminal sees the message). The message is redacted by the sink.
 */
export function jobFailedAlert(
  err: unknown,
  command: string,
  migration: string | null,
): AlertInput | undefined {
  if (err instanceof SwitchyardError && err.exitCode === 2) return undefined;
  const message = err instanceof Error ? err.message : String(err);
  return {
    type: AlertType.jobFailed,
    migration,
    message: `${command}${migration !== null ? ` ${migration}` : ''} failed: ${message.slice(0, 1000)}`,
    details: {
      command,
      error: err instanceof SwitchyardError ? err.code : err instanceof Error ? err.name : 'Error',
    },
  };
}

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
