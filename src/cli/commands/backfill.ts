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
import type { CapacityLimit } from '../../engine/capacity.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { waitWords } from '../store-calls.js';
import { withInterrupt } from '../interrupt.js';
import { existingMigration, withProject } from '../open-project.js';
import { Progress, reportDone } from '../progress.js';
import { createLogger } from '../../observe/logger.js';
import { parseGuards, parseMaxErrors, type Guards } from '../../engine/guards.js';
import { BackfillAlerts } from '../../observe/job-alerts.js';
import { WorkerHeartbeat } from '../../observe/worker-heartbeat.js';
import {
  ALERT_DEAD_LETTERS_OPTION,
  alertWebhookOption,
  openCommandAlerts,
  type AlertCliOptions,
} from '../alert-options.js';

interface BackfillCliOptions extends AlertCliOptions {
  batchSize: number;
  concurrency: number;
  rate?: number;
  maxRcu?: string;
  maxWcu?: string;
  partitions: number;
  workerId?: string;
  journal: boolean;
  maxErrors?: string;
  guard?: string;
  autoRollback?: boolean;
  retryDead?: boolean;
  leaseTtl?: number;
  force?: boolean;
  reason?: string;
}

/** --max-rcu / --max-wcu as the engine takes them: a number, or a percentage as written. */
function capacityLimits(o: BackfillCliOptions): { maxRcu?: CapacityLimit; maxWcu?: CapacityLimit } {
  const limit = (v: string): CapacityLimit => (v.endsWith('%') ? (v as `${number}%`) : Number(v));
  return {
    ...(o.maxRcu !== undefined ? { maxRcu: limit(o.maxRcu) } : {}),
    ...(o.maxWcu !== undefined ? { maxWcu: limit(o.maxWcu) } : {}),
  };
}

export function formatProgress(p: BackfillProgress): string {
  const pct = p.total > 0 ? Math.min(100, (100 * p.done) / p.total) : 100;
  const width = 24;
  const filled = Math.round((pct / 100) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const eta = p.etaSeconds === null ? '?' : formatSeconds(p.etaSeconds);
  const cap =
    p.capacity !== undefined
      ? ` | RCU ${p.capacity.read.toLocaleString('en-US')} WCU ${p.capacity.write.toLocaleString('en-US')}`
      : '';
  return `${bar} ${pct.toFixed(1)}% ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} ${p.rate.toLocaleString('en-US')}/s ETA ${eta} | skipped ${p.skipped} conflicts ${p.conflicts} errors ${p.errors}${cap}${p.paused ? ' | PAUSED' : ''}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export const backfillCommand = defineCommand<BackfillCliOptions>({
  spec: {
    name: 'backfill',
    summary: 'transform every document to the new version: partitioned, resumable, throttled',
    details: [
      "Splits the collection into partitions, leases them in the state store and transforms each page of documents with writes conditional on the revision read, so an application write is never overwritten. Before each batch is written, its before-images go to the undo journal (used by rollback). After each batch the partition checkpoint is saved: a killed backfill, run again, resumes there and redoes at most one batch. Several backfill processes (on one machine or many) share the work; a dead worker's partitions are taken over.",
      'Documents whose transform throws go to dead letters; past --max-errors the run pauses. Ctrl-C stops after the current batch; run the command again to resume. Progress is a bar on a terminal, JSON lines with --json.',
      'Exit 0 when the collection is backfilled (or the run was stopped: run again to resume), 1 when a guard tripped (the migration is paused, or rolled back with --auto-rollback), 2 for bad input, 3 when the store failed. Every guard trip is in the audit log.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      {
        flags: '--batch-size <n>',
        description: 'documents per batch (one scan page, one write batch, one checkpoint)',
        defaultValue: DEFAULT_BATCH_SIZE,
        positiveInt: true,
      },
      {
        flags: '--concurrency <n>',
        description: 'partitions this process works on at once',
        defaultValue: DEFAULT_CONCURRENCY,
        positiveInt: true,
      },
      {
        flags: '--rate <docs-per-second>',
        description:
          'a rate limit for this process (token bucket); adaptive back-off slows it further when the store struggles',
        positiveInt: true,
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
        flags: '--partitions <n>',
        description:
          'how many partitions to split the collection into (first run only; use several times the number of workers)',
        defaultValue: DEFAULT_PARTITIONS,
        positiveInt: true,
      },
      {
        flags: '--worker-id <id>',
        description: "this worker's name in leases and the audit log",
        defaultDescription: 'hostname:pid',
      },
      {
        flags: '--no-journal',
        description:
          "do not write before-images (only for provably exact migrations: every inverse the library's own, none written by hand)",
      },
      {
        flags: '--max-errors <n|p%>',
        description:
          'the error budget: pause after this many dead letters, or this percentage of the documents scanned',
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
          'transform only the dead letters again (after fixing the migration); successes leave the dead letters',
      },
      {
        flags: '--lease-ttl <ms>',
        description:
          'how long a lease lives without renewal; a worker on another host is taken over after this',
        defaultValue: 15000,
        positiveInt: true,
      },
      {
        flags: '--force',
        description: 'accept a migration file that changed since the migration started',
      },
      { flags: '--reason <text>', description: 'why, for the audit log' },
      alertWebhookOption('a guard trips, a worker dies (its partition is taken over)'),
      ALERT_DEAD_LETTERS_OPTION,
    ],
    examples: [
      { command: 'switchyard backfill 20261120-split-name --rate 2000' },
      { command: 'switchyard backfill split-name --concurrency 4 --max-errors 0.5% --json' },
      { command: 'switchyard backfill split-name --retry-dead' },
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
    if (options.autoRollback === true && guards === undefined) {
      throw new UsageError(
        '--auto-rollback needs a guard to trip: --guard ... or --max-errors ...',
        { field: '--auto-rollback' },
      );
    }
    const alerts = openCommandAlerts(ctx, 'backfill', options);
    let migrationId: string | null = null;
    const bar = new Progress(ctx.io.stderr, ctx.showProgress && !ctx.json);
    // log lines must not land inside the progress line: clear it first (the next update redraws)
    const logDestination = { write: (line: string) => (bar.done(), ctx.io.stderr.write(line)) };
    const logger = createLogger({ quiet: ctx.quiet, destination: logDestination });
    try {
      const result = await withInterrupt((signal) =>
        withProject(ctx, async (project) => {
          const migration = await existingMigration(project, id!);
          migrationId = migration.id;
          await requireApprovals(project, migration, 'backfill');
          // throttle and batch latencies for /metrics, read by any process from the state store
          const heartbeat = new WorkerHeartbeat(project.stateStore, migration.id);
          const alerting =
            alerts.sink !== undefined
              ? new BackfillAlerts(alerts.sink, migration.id, {
                  ...(options.alertDeadLetters !== undefined
                    ? { deadLetterThreshold: options.alertDeadLetters }
                    : {}),
                })
              : undefined;
          try {
            return await backfill(project, migration, {
              batchSize: options.batchSize,
              concurrency: options.concurrency,
              ...(options.rate !== undefined ? { rate: options.rate } : {}),
              ...capacityLimits(options),
              partitions: options.partitions,
              ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
              journal: options.journal,
              ...(guards !== undefined ? { guards } : {}),
              autoRollback: options.autoRollback === true,
              retryDead: options.retryDead === true,
              leaseTtlMs: options.leaseTtl ?? 15000,
              force: options.force === true,
              ...(options.reason !== undefined ? { reason: options.reason } : {}),
              signal,
              onEvent: (e: BackfillEvent) => {
                heartbeat.onEvent(e);
                alerting?.onEvent(e);
                if (
                  ctx.json &&
                  (e.type === 'progress' ||
                    e.type === 'start' ||
                    e.type === 'paused' ||
                    e.type === 'resumed' ||
                    e.type === 'lease-lost')
                ) {
                  ctx.out(
                    JSON.stringify({ event: e.type, ...(e.type === 'progress' ? e.progress : e) }),
                  );
                }
                if (e.type === 'progress') bar.update(formatProgress(e.progress), true);
                else if (e.type === 'start')
                  logger.info(
                    {
                      migration: e.migration,
                      worker: e.worker,
                      partitions: e.partitions,
                      total: e.total,
                    },
                    'backfill started',
                  );
                else if (e.type === 'paused') logger.warn({ reason: e.reason }, 'paused');
                else if (e.type === 'resumed') logger.info('resumed');
                else if (e.type === 'lease-lost')
                  logger.warn(
                    { partition: e.partition },
                    'lease lost; another worker took over the partition',
                  );
                else if (e.type === 'retry')
                  logger.warn(
                    { error: e.error, attempt: e.attempt, delayMs: e.delayMs },
                    `store call failed; ${waitWords(e)}`,
                  );
                else if (e.type === 'dead-letter')
                  logger.warn({ key: e.key, error: e.error }, 'dead letter');
                else if (e.type === 'guard-trip')
                  logger.warn({ guard: e.trip.guard, message: e.trip.message }, 'guard tripped');
              },
            });
          } finally {
            await heartbeat.close();
          }
        }),
      );
      bar.done();
      reportDone(ctx, result);
      return result.outcome === 'guard-tripped' || result.outcome === 'rolled-back' ? 1 : 0;
    } catch (err) {
      alerts.failed(err, 'backfill', migrationId ?? id ?? null);
      throw err;
    } finally {
      bar.done();
      await alerts.close();
    }
  },
});
