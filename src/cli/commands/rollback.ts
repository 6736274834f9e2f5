import {
  DEFAULT_ROLLBACK_BATCH_SIZE,
  DEFAULT_ROLLBACK_PARTITIONS,
  rollback,
} from '../../engine/rollback.js';
import type { JobProgress } from '../../engine/runner/job.js';
import { thresholdsFor } from '../../engine/runner/thresholds.js';
import { CHAOS_OPTIONS, chaosFrom, reportChaos, type ChaosCliOptions } from '../chaos-options.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withInterrupt } from '../interrupt.js';
import { stepBack } from './stage.js';
import { withProject } from '../open-project.js';
import { jobDisplay, progressLine } from '../job-events.js';
import {
  finalSweepFrom,
  finalSweepOptionSpecs,
  workerOptionSpecs,
  workerOptionsFrom,
  type WorkerCliOptions,
} from '../worker-options.js';
import { AlertType } from '../../observe/alerts.js';
import { rollbackAlert, thresholdAlert } from '../../observe/job-alerts.js';
import {
  alertWebhookOption,
  openCommandAlerts,
  type AlertCliOptions,
  type CommandAlerts,
} from '../alert-options.js';

interface RollbackCliOptions extends AlertCliOptions, WorkerCliOptions, ChaosCliOptions {
  reason?: string;
}

export const rollbackCommand = defineCommand<RollbackCliOptions>({
  spec: {
    name: 'rollback',
    summary: 'undo an in-place migration exactly, keeping what the application wrote since',
    details: [
      "Every journalled document that is still what the migration wrote is restored to its exact before-image (a write conditional on its current revision). One the application changed since is turned back with down() when the migration is exactly invertible; otherwise the application's document is kept and reported as a conflict. Without a journal, down() is applied, and the rollback is refused when the migration has no exact inverse. Running backfill workers stop first.",
      'In a chain of steps on one collection (1->2, 2->3), only the last applied step can be rolled back: rolling back an earlier one while a later one is applied (backfilling, backfilled, verified, complete, failed or paused) is refused with exit 2, nothing changed, naming the step to roll back first.',
      'Side by side: steps the stage back to the nearest stage where the old side is authoritative (live -> shadow -> dual-write -> off; rampdown -> live 100%), in the audit log like every stage change.',
      "An in-place rollback is a job like a backfill: partitioned over the collection (--partitions), shared by several processes on one or many machines (run the same command in each, with --worker-id), a dead worker's partitions taken over, throttled (--rate, switchyard throttle), paused (switchyard pause while it runs), with progress and ETA. Killed (or Ctrl-C), run again, it continues from its checkpoints. The migration ends rolled-back, and backfill can run it again. Recorded in the audit log with --reason.",
      "The config's contingency thresholds (those without `job`, or with `job: 'rollback'`) are checked after every batch (docs/guides/thresholds.md): alert and throttle act and the rollback goes on; pause or rollback pauses it (exit 1, still rolling-back) and the next rollback continues from its checkpoints.",
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--reason <text>', description: 'why, for the audit log' },
      ...workerOptionSpecs('rollback', {
        batchSize: DEFAULT_ROLLBACK_BATCH_SIZE,
        concurrency: 1,
        partitions: DEFAULT_ROLLBACK_PARTITIONS,
      }),
      ...finalSweepOptionSpecs('rolled-back', 'still at the new version (the journal is kept)'),
      ...CHAOS_OPTIONS,
      alertWebhookOption('the rollback ends'),
    ],
    examples: [
      { command: 'switchyard rollback 20261120-split-name --reason "p99 regression"' },
      {
        command: 'switchyard rollback split-name --worker-id w1 --partitions 64 --rate 5000',
        comment: 'run the same on other machines (w2, w3, ...) to share the rollback',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    const alerts = openCommandAlerts(ctx, 'rollback', options);
    try {
      return await runRollback(ctx, id!, options, alerts);
    } catch (err) {
      alerts.failed(err, 'rollback', id ?? null);
      throw err;
    } finally {
      await alerts.close();
    }
  },
});

async function runRollback(
  ctx: CliContext,
  id: string,
  options: RollbackCliOptions,
  alerts: CommandAlerts,
): Promise<number> {
  const chaos = chaosFrom(ctx, options);
  // side by side: step the stage back to where the old side is authoritative
  const stepped = await withProject(ctx, async (project) => {
    const migration = await project.migration(id);
    return migration.kind === 'side-by-side'
      ? stepBack(project, migration, options.reason)
      : undefined;
  });
  if (stepped !== undefined) {
    alerts.send({
      type: AlertType.rolledBack,
      migration: stepped.migration,
      severity: 'info',
      message: `${stepped.migration} stepped back from ${stepped.from.stage} to ${stepped.to.stage}`,
      details: { from: stepped.from, to: stepped.to },
    });
    if (ctx.json) ctx.outJson(stepped);
    else
      ctx.info(
        `${stepped.migration}: stepped back from ${stepped.from.stage} to ${stepped.to.stage}${stepped.to.stage === 'live' ? ` ${stepped.to.percent}%` : ''}`,
      );
    return 0;
  }
  const { bar, onEvent } = jobDisplay(ctx, 'rollback', formatRollback);
  try {
    const result = await withInterrupt((signal) =>
      withProject(
        ctx,
        async (project) => {
          const migration = await project.migration(id);
          await project.recordChaos(migration.id, 'rollback');
          return rollback(project, migration, {
            ...workerOptionsFrom(options, signal),
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            ...finalSweepFrom(options),
            thresholds: thresholdsFor(project.policy.thresholds, migration.id, 'rollback'),
            onEvent: (e) => {
              onEvent(e);
              if (e.type === 'threshold') alerts.send(thresholdAlert(migration.id, e));
            },
          }).finally(() => reportChaos(ctx, project));
        },
        { chaos },
      ),
    );
    bar.done();
    alerts.send(rollbackAlert(result));
    if (ctx.json) ctx.out(JSON.stringify({ event: 'done', ...result }));
    else {
      ctx.info(
        `${result.outcome}: ${result.restored} restored exactly, ${result.downcast} turned back with down(), ${result.untouched} untouched, ${result.conflicts} conflicts (kept the application's document)${result.emittedRemoved !== undefined ? `; ${result.emittedRemoved} emitted documents removed` : ''}`,
      );
      for (const c of result.conflictSamples) ctx.info(`  conflict ${c.key}: ${c.reason}`);
      if (result.message !== undefined) ctx.info(result.message);
    }
    return result.outcome === 'incomplete' || result.outcome === 'paused' ? 1 : 0;
  } finally {
    bar.done();
  }
}

function formatRollback(p: JobProgress): string {
  return `rollback ${progressLine(p)} | restored ${Number(p.restored ?? 0)} downcast ${Number(p.downcast ?? 0)} conflicts ${Number(p.conflicts ?? 0)}`;
}
