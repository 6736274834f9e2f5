import path from 'node:path';
import { checkReviewedPlan, readPlanFile } from '../../engine/reviewed-plan.js';
import { requireApprovals } from '../../state/approvals.js';
import { UsageError } from '../../core/errors.js';
import {
  backfill,
  DEFAULT_BATCH_SIZE,
  DEFAULT_CONCURRENCY,
  DEFAULT_PARTITIONS,
  type BackfillEvent,
  type BackfillProgress,
} from '../../engine/backfill.js';
import type { CapacityLimit } from '../../engine/runner/capacity.js';
import type { CanaryOptions } from '../../engine/jobs/backfill-canary.js';
import type { CliContext } from '../cli-context.js';
import { CHAOS_OPTIONS, chaosFrom, reportChaos, type ChaosCliOptions } from '../chaos-options.js';
import { defineCommand } from '../command-definition.js';
import { withInterrupt } from '../interrupt.js';
import { existingMigration, withProject } from '../open-project.js';
import { reportDone } from '../progress.js';
import {
  DEFAULT_ERROR_BUDGET,
  formatErrorBudget,
  parseGuards,
  parseMaxErrors,
  type Guards,
} from '../../engine/runner/guards.js';
import { thresholdsFor } from '../../engine/runner/thresholds.js';
import { BackfillAlerts } from '../../observe/job-alerts.js';
import { WindowSchedule } from '../../engine/runner/windows.js';
import { jobDisplay, progressLine } from '../job-events.js';
import {
  LOG_CHANGES_OPTIONS,
  openChangeLog,
  type LogChangesCliOptions,
} from '../change-log-options.js';
import {
  finalSweepFrom,
  finalSweepOptionSpecs,
  workerOptionSpecs,
  workerOptionsFrom,
  type WorkerCliOptions,
} from '../worker-options.js';
import {
  ALERT_DEAD_LETTERS_OPTION,
  alertWebhookOption,
  openCommandAlerts,
  type AlertCliOptions,
} from '../alert-options.js';

interface BackfillCliOptions
  extends AlertCliOptions, WorkerCliOptions, ChaosCliOptions, LogChangesCliOptions {
  journal: boolean;
  maxErrors?: string;
  guard?: string;
  autoRollback?: boolean;
  retryDead?: boolean;
  force?: boolean;
  reason?: string;
  maxRcu?: string;
  maxWcu?: string;
  plan?: string;
  limit?: string;
  filter?: string;
}

/** --max-rcu / --max-wcu as the engine takes them: a number, or a percentage as written. */
function capacityLimits(o: BackfillCliOptions): { maxRcu?: CapacityLimit; maxWcu?: CapacityLimit } {
  const limit = (v: string): CapacityLimit => (v.endsWith('%') ? (v as `${number}%`) : Number(v));
  return {
    ...(o.maxRcu !== undefined ? { maxRcu: limit(o.maxRcu) } : {}),
    ...(o.maxWcu !== undefined ? { maxWcu: limit(o.maxWcu) } : {}),
  };
}

/** --limit / --filter as the engine takes them (checked there: exit 2 naming the flag). */
function canaryFrom(o: BackfillCliOptions): { canary?: CanaryOptions } {
  if (o.limit === undefined && o.filter === undefined) return {};
  let limit: number | undefined;
  if (o.limit !== undefined) {
    limit = /^\s*\d+\s*$/.test(o.limit) ? Number(o.limit) : Number.NaN;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new UsageError(`--limit must be a positive integer, got '${o.limit}'`, {
        field: '--limit',
      });
  }
  return {
    canary: {
      ...(limit !== undefined ? { limit } : {}),
      ...(o.filter !== undefined ? { filter: o.filter } : {}),
    },
  };
}

export function formatProgress(p: BackfillProgress): string {
  const cap =
    p.capacity !== undefined
      ? ` | RCU ${p.capacity.read.toLocaleString('en-US')} WCU ${p.capacity.write.toLocaleString('en-US')}`
      : '';
  return `${progressLine({ ...p, paused: false })} | skipped ${p.skipped} conflicts ${p.conflicts} errors ${p.errors}${cap}${p.paused ? ' | PAUSED' : ''}`;
}

function isOff(maxErrors: string | undefined): boolean {
  return maxErrors !== undefined && /^\s*off\s*$/i.test(maxErrors);
}

/** no limit at all among the guards given */
function noGuard(g: Guards | undefined): boolean {
  return g === undefined || Object.values(g).every((v) => v === undefined);
}

export const backfillCommand = defineCommand<BackfillCliOptions>({
  spec: {
    name: 'backfill',
    summary: 'transform every document to the new version: partitioned, resumable, throttled',
    details: [
      "Splits the collection into partitions, leases them in the state store and transforms each page of documents with writes conditional on the revision read, so an application write is never overwritten. Before each batch is written, its before-images go to the undo journal (used by rollback). After each batch the partition checkpoint is saved: a killed backfill, run again, resumes there and redoes at most one batch. Several backfill processes (on one machine or many) share the work; a dead worker's partitions are taken over.",
      "With change windows in the config (`windows`), the workers write only while a window is open: outside every window they wait (their leases kept; `status` says until when), and at a window's end each stops before its next batch and goes on when the next window opens.",
      "Documents whose transform throws, or whose result cannot be stored, changes the document's key, or fails the migration's invariants or JSON Schema, go to dead letters (each naming its key and why) and are not written.",
      `The error budget: by default a run stops (the migration is paused, exit 1) once more than ${DEFAULT_ERROR_BUDGET.deadLetters} documents and more than ${DEFAULT_ERROR_BUDGET.percent}% of the documents scanned are dead letters (--max-errors ${formatErrorBudget(DEFAULT_ERROR_BUDGET)}). It is a threshold in the config's \`thresholds\` (\`guard: 'error-budget'\`, listed by default; a config may set its own levels or only alert: docs/guides/thresholds.md); --max-errors changes it for this run, --max-errors off turns it off. Whatever the budget, a run in which every document that needed a transform failed ends incomplete (exit 1), never backfilled.`,
      "A canary (--limit and/or --filter, in place only, with the journal): the backfill runs on that subset first and the migration ends in status canary; `status` says how many documents it migrated, `verify` checks those documents only (the rest is not drift), `rollback` restores them from the journal, and a plain `backfill` later migrates the rest (the canary's documents are skipped, not redone) and ends backfilled.",
      'Ctrl-C stops after the current batch; run the command again to resume. Progress is a bar on a terminal, JSON lines with --json.',
      'Exit 0 when the collection is backfilled (or the run was stopped: run again to resume), 1 when a guard or the error budget tripped (the migration is paused, or rolled back with --auto-rollback) or every document failed, 2 for bad input, 3 when the store failed. Every guard trip is in the audit log.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      ...workerOptionSpecs('backfill', {
        batchSize: DEFAULT_BATCH_SIZE,
        concurrency: DEFAULT_CONCURRENCY,
        partitions: DEFAULT_PARTITIONS,
      }),
      {
        flags: '--limit <n>',
        description:
          'canary: migrate only N documents in all (the first N needing the transform in scan order: key order on SQLite, SCAN order on Redis), walked as one partition whatever the number of workers (--partitions does not apply); the migration ends in status canary. A larger --limit later migrates more; a plain backfill migrates the rest',
      },
      {
        flags: '--filter <expr>',
        description:
          'canary: migrate only the documents matching path=value (JSON or text), path~prefix (a string starting with prefix) or @key~prefix (the key); with --limit, the first N of them',
      },
      {
        flags: '--max-rcu <units|p%>',
        description:
          "DynamoDB: read capacity units per second for this process, or a percentage of the table's provisioned read capacity; throttling slows it further",
      },
      {
        flags: '--max-wcu <units|p%>',
        description:
          "DynamoDB: write capacity units per second for this process, or a percentage of the written table's provisioned write capacity; throttling slows it further",
      },
      {
        flags: '--no-journal',
        description:
          "do not write before-images (only for provably exact migrations: every inverse the library's own, none written by hand)",
      },
      ...finalSweepOptionSpecs('backfilled', 'still at the old version'),
      {
        flags: '--max-errors <n|p%|n,p%|off>',
        description: `the error budget (default ${formatErrorBudget(DEFAULT_ERROR_BUDGET)}: pause once the dead letters are more than ${DEFAULT_ERROR_BUDGET.deadLetters} and more than ${DEFAULT_ERROR_BUDGET.percent}% of the documents scanned): a count, a percentage of the documents scanned, both (more than both), or off`,
      },
      {
        flags: '--guard <limits>',
        description:
          'limits checked after every batch; a trip pauses the migration (exit 1): comma-separated error-rate<1%, conflict-rate<5%, dead-letters<100, p99<500ms',
      },
      {
        flags: '--auto-rollback',
        description: 'when a guard trips, roll the migration back instead of only pausing it',
      },
      {
        flags: '--retry-dead',
        description:
          "transform only the dead letters again (after fixing the migration); successes leave the dead letters. Reports this run's numbers: retried, fixed, gone (document deleted), still dead",
      },
      {
        flags: '--plan <file>',
        description:
          'run only what was reviewed: refuse (exit 2, nothing written) when the plan file (plan --out) is for another migration, or the migration file or the schema of the data changed since',
      },
      {
        flags: '--force',
        description: 'accept a migration file that changed since the migration started',
      },
      { flags: '--reason <text>', description: 'why, for the audit log' },
      ...CHAOS_OPTIONS,
      ...LOG_CHANGES_OPTIONS,
      alertWebhookOption('a guard trips, a worker dies (its partition is taken over)'),
      ALERT_DEAD_LETTERS_OPTION,
    ],
    examples: [
      { command: 'switchyard backfill 20261120-split-name --rate 2000' },
      { command: 'switchyard backfill split-name --concurrency 4 --max-errors 0.5% --json' },
      { command: 'switchyard backfill split-name --retry-dead' },
      { command: 'switchyard backfill split-name --limit 100' },
      { command: 'switchyard backfill split-name --filter "@key~eu:" --limit 1000' },
      {
        command:
          'switchyard backfill split-name --guard "error-rate<1%" --alert-webhook https://alerts.example.com/hook --alert-dead-letters 100',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    let guards: Guards | undefined;
    if (options.maxErrors !== undefined) guards = parseMaxErrors(options.maxErrors, guards);
    if (options.guard !== undefined) guards = parseGuards(options.guard, guards);
    // without --max-errors off the error budget is a guard to trip
    if (options.autoRollback === true && isOff(options.maxErrors) && noGuard(guards)) {
      throw new UsageError(
        '--auto-rollback needs a guard to trip, and --max-errors off leaves none: --guard ... or --max-errors ...',
        { field: '--auto-rollback' },
      );
    }
    const chaos = chaosFrom(ctx, options);
    const changes = openChangeLog(ctx, options);
    const alerts = openCommandAlerts(ctx, 'backfill', options);
    let migrationId: string | null = null;
    const { bar, onEvent } = jobDisplay(ctx, 'backfill', formatProgress);
    try {
      const result = await withInterrupt((signal) =>
        withProject(
          ctx,
          async (project) => {
            const migration = await existingMigration(project, id!);
            migrationId = migration.id;
            await requireApprovals(project, migration, 'backfill');
            if (options.plan !== undefined) {
              const file = path.resolve(ctx.io.cwd, options.plan);
              await checkReviewedPlan(project.store, migration, readPlanFile(file), file);
            }
            await project.recordChaos(migration.id, 'backfill');
            const alerting =
              alerts.sink !== undefined
                ? new BackfillAlerts(alerts.sink, migration.id, {
                    ...(options.alertDeadLetters !== undefined
                      ? { deadLetterThreshold: options.alertDeadLetters }
                      : {}),
                  })
                : undefined;
            return backfill(project, migration, {
              ...workerOptionsFrom(options, signal),
              ...(project.policy.windows.length > 0
                ? { windows: new WindowSchedule(project.policy.windows) }
                : {}),
              ...capacityLimits(options),
              journal: options.journal,
              ...finalSweepFrom(options),
              ...(guards !== undefined ? { guards } : {}),
              thresholds: thresholdsFor(project.policy.thresholds, migration.id, 'backfill'),
              // a limit on failures given here replaces the default error budget; off removes it
              ...(isOff(options.maxErrors) ? { errorBudget: false as const } : {}),
              autoRollback: options.autoRollback === true,
              retryDead: options.retryDead === true,
              force: options.force === true,
              ...canaryFrom(options),
              ...(options.reason !== undefined ? { reason: options.reason } : {}),
              ...(changes !== undefined ? { logChanges: changes } : {}),
              onEvent: (e: BackfillEvent) => {
                alerting?.onEvent(e);
                if (e.type !== 'done') onEvent(e);
              },
            }).finally(() => reportChaos(ctx, project));
          },
          { chaos },
        ),
      );
      bar.done();
      reportDone(ctx, result);
      return result.outcome === 'guard-tripped' ||
        result.outcome === 'rolled-back' ||
        result.outcome === 'incomplete'
        ? 1
        : 0;
    } catch (err) {
      alerts.failed(err, 'backfill', migrationId ?? id ?? null);
      throw err;
    } finally {
      bar.done();
      changes?.close();
      await alerts.close();
    }
  },
});
