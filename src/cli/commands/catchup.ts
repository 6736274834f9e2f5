import { UsageError } from '../../core/errors.js';
import {
  catchup,
  CATCHUP_STAGES,
  DEFAULT_CATCHUP_BATCH_SIZE,
  DEFAULT_CATCHUP_LEASE_TTL_MS,
  DEFAULT_POLL_MS,
  releaseCatchup,
  type CatchupEvent,
  type CatchupMode,
  type CatchupProgress,
} from '../../engine/catchup.js';
import { thresholdsFor } from '../../engine/runner/thresholds.js';
import { createLogger } from '../../observe/logger.js';
import { CHAOS_OPTIONS, chaosFrom, reportChaos, type ChaosCliOptions } from '../chaos-options.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { waitWords } from '../store-calls.js';
import { withInterrupt } from '../interrupt.js';
import { existingMigration, withProject } from '../open-project.js';
import { Progress, reportDone } from '../progress.js';
import { formatSeconds, logThreshold } from '../job-events.js';

interface CatchupCliOptions extends ChaosCliOptions {
  once?: boolean;
  untilIdle?: boolean;
  batchSize: number;
  pollMs: number;
  rate?: number;
  leaseTtl: number;
  workerId?: string;
  release?: boolean;
  reason?: string;
}

export function formatCatchup(p: CatchupProgress): string {
  const lag = p.lagMs === 0 ? 'caught up' : `lag ${formatSeconds(Math.round(p.lagMs / 1000))}`;
  return `catch-up: ${p.changes.toLocaleString('en-US')} changes, ${p.applied.toLocaleString('en-US')} written, ${p.deleted.toLocaleString('en-US')} deleted, ${p.errors} errors | ${lag}${p.pendingRechecks > 0 ? ` | ${p.pendingRechecks} deletes to recheck after the backfill` : ''}`;
}

export const catchupCommand = defineCommand<CatchupCliOptions>({
  spec: {
    name: 'catchup',
    summary: "follow the source's change feed and apply up() to the target (side by side)",
    details: [
      "For a side-by-side migration whose application cannot write both sides through the runtime: tails the source collection's change feed (SQLite: a changelog kept by triggers, created on first use; MongoDB: change streams) and, for every changed key, reads the source document again and writes up(doc) to the target, or deletes the target document when the source has none. The target may be in another store. The position is saved in the state store after every batch: a stopped or killed catch-up, run again, resumes there (redoing at most one batch, harmlessly). One process works at a time (a lease); a second one waits as a standby and takes over when the first dies.",
      `Once catch-up has started, \`switchyard backfill <id>\` copies the rest while the stage is still off. Deleted keys that a running backfill could copy back are applied again once the backfill is done. Catch-up runs in the stages ${CATCHUP_STAGES.join(', ')} (the old side is the truth for every key); it refuses to start later and stops when the stage moves on.`,
      'Runs until Ctrl-C (or SIGTERM), which stops after the current batch; --until-idle stops once the feed is drained, --once after one batch. Exit 0 when stopped or done, 1 when a threshold paused it, 2 for bad input (an in-place migration, a store without a change feed, a stage past shadow), 3 when the store failed or another process took the lease over. Start and stop are in the audit log; progress (changes, written, deleted, lag) is in the catalog entry (`catchup`). Pause, resume and throttle it like the other jobs (`switchyard pause <id> --job catch-up`): it keeps its lease while paused.',
      "The config's contingency thresholds (those without `job`, or with `job: 'catch-up'`) are checked after every batch (docs/guides/thresholds.md); `lag` is how long since the feed was last drained (0 when caught up), ms.",
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--once', description: 'apply one batch of changes, then stop' },
      { flags: '--until-idle', description: 'stop once the change feed is drained' },
      {
        flags: '--batch-size <n>',
        description: 'changes per batch (one read, one source re-read, one target write, one save)',
        defaultValue: DEFAULT_CATCHUP_BATCH_SIZE,
        positiveInt: true,
      },
      {
        flags: '--poll-ms <n>',
        description: 'how long to wait before reading the feed again once it is drained',
        defaultValue: DEFAULT_POLL_MS,
        positiveInt: true,
      },
      {
        flags: '--rate <docs-per-second>',
        description:
          'a rate limit (token bucket); adaptive back-off slows it further when the store struggles',
        positiveInt: true,
      },
      {
        flags: '--lease-ttl <ms>',
        description:
          'how long the lease lives without renewal; a standby on another host takes over after this',
        defaultValue: DEFAULT_CATCHUP_LEASE_TTL_MS,
        positiveInt: true,
      },
      {
        flags: '--worker-id <id>',
        description: "this process's name in the lease and the audit log",
        defaultDescription: 'hostname:pid',
      },
      {
        flags: '--release',
        description:
          "give catch-up's place in the change feed back and forget it (the SQLite feed drops its triggers once nobody reads it); a later catchup starts from now. Done by itself once the migration is complete",
      },
      { flags: '--reason <text>', description: 'why, for the audit log' },
      ...CHAOS_OPTIONS,
    ],
    examples: [
      { command: 'switchyard catchup 20261120-users-v2', comment: 'until Ctrl-C' },
      { command: 'switchyard catchup users-v2 --until-idle --json' },
      { command: 'switchyard catchup users-v2 --release', comment: 'catch-up is no longer wanted' },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    if (options.once === true && options.untilIdle === true)
      throw new UsageError('--once and --until-idle cannot be used together', {
        field: '--once',
      });
    if (options.release === true) {
      if (options.once === true || options.untilIdle === true)
        throw new UsageError('--release cannot be combined with --once or --until-idle', {
          field: '--release',
        });
      return withProject(ctx, async (project) => {
        const m = await project.migration(id!);
        const released = await releaseCatchup(project, m, {
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
          why: 'asked (--release)',
        });
        if (!released)
          throw new UsageError(`catch-up of ${m.id} was never started, or is released already`, {
            field: '--release',
          });
        if (ctx.json) ctx.outJson({ migration: m.id, released: true });
        else ctx.info(`${m.id}: catch-up released its place in the change feed`);
        return 0;
      });
    }
    const chaos = chaosFrom(ctx, options);
    const mode: CatchupMode =
      options.once === true ? 'once' : options.untilIdle === true ? 'until-idle' : 'follow';
    const bar = new Progress(ctx.io.stderr, ctx.showProgress && !ctx.json);
    const logDestination = { write: (line: string) => (bar.done(), ctx.io.stderr.write(line)) };
    const logger = createLogger({ quiet: ctx.quiet, destination: logDestination });
    const onEvent = (e: CatchupEvent) => {
      if (ctx.json && e.type !== 'done' && e.type !== 'batch' && e.type !== 'retry')
        ctx.out(JSON.stringify({ event: e.type, ...(e.type === 'progress' ? e.progress : e) }));
      switch (e.type) {
        case 'progress':
          bar.update(formatCatchup(e.progress), true);
          break;
        case 'start':
          logger.info(
            { migration: e.migration, worker: e.worker, resumed: e.resumed },
            e.resumed ? 'catch-up resumed from its saved position' : 'catch-up started from now',
          );
          break;
        case 'standby':
          logger.info(
            { owner: e.owner, expiresAt: new Date(e.expiresAt).toISOString() },
            'another process holds the catch-up lease; waiting as a standby',
          );
          break;
        case 'paused':
          logger.warn({ reason: e.reason }, 'paused');
          break;
        case 'resumed':
          logger.info('resumed');
          break;
        case 'recheck':
          logger.info({ keys: e.keys }, 'deleted keys applied again after the backfill');
          break;
        case 'retry':
          logger.warn(
            { error: e.error, attempt: e.attempt, delayMs: e.delayMs },
            `store call failed; ${waitWords(e)}`,
          );
          break;
        case 'dead-letter':
          logger.warn({ key: e.key, error: e.error }, 'dead letter');
          break;
        case 'threshold':
          logThreshold(logger, e);
          break;
        default:
          break;
      }
    };
    try {
      const result = await withInterrupt((signal) =>
        withProject(
          ctx,
          async (project) => {
            const migration = await existingMigration(project, id!);
            await project.recordChaos(migration.id, 'catch-up');
            return catchup(project, migration, {
              mode,
              batchSize: options.batchSize,
              pollMs: options.pollMs,
              ...(options.rate !== undefined ? { rate: options.rate } : {}),
              leaseTtlMs: options.leaseTtl,
              ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
              ...(options.reason !== undefined ? { reason: options.reason } : {}),
              thresholds: thresholdsFor(project.policy.thresholds, migration.id, 'catch-up'),
              signal,
              onEvent,
            }).finally(() => reportChaos(ctx, project));
          },
          { chaos },
        ),
      );
      bar.done();
      reportDone(ctx, result);
      return result.outcome === 'lease-lost' ? 3 : result.outcome === 'paused' ? 1 : 0;
    } finally {
      bar.done();
    }
  },
});
