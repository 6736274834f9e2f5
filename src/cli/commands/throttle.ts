import { UsageError } from '../../core/errors.js';
import { controlField, defaultPass, setThrottle } from '../../engine/runner/control.js';
import { JOB_OPTION, parseJob } from '../worker-options.js';
import { MigrationStatus, type CatalogEntry } from '../../state/catalog.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export const throttleCommand = defineCommand<{
  rate?: number;
  batchSize?: number;
  reason?: string;
  job?: string;
}>({
  spec: {
    name: 'throttle',
    summary: 'change the rate or batch size of a running backfill, verify, rollback or catch-up',
    details: [
      'Every worker of the job (--job; the backfill, or the rollback while one runs) picks the new settings up before its next batch. The rate is per worker process. Recorded in the audit log.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      {
        flags: '--rate <docs-per-second>',
        description: 'the new rate limit per worker process',
        positiveInt: true,
      },
      { flags: '--batch-size <n>', description: 'the new batch size', positiveInt: true },
      { flags: '--reason <text>', description: 'why, for the audit log' },
      JOB_OPTION,
    ],
    examples: [
      { command: 'switchyard throttle 20261120-split-name --rate 500 --reason "peak hours"' },
    ],
  },
  async run(ctx: CliContext, [id], options): Promise<number> {
    if (options.rate === undefined && options.batchSize === undefined)
      throw new UsageError('give --rate and/or --batch-size', { field: '--rate' });
    const entry = await withProject(ctx, async (project) => {
      const m = await project.migration(id!);
      return setThrottle(
        project,
        m.id,
        {
          ...(options.rate !== undefined ? { rate: options.rate } : {}),
          ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        },
        options.reason,
        parseJob(options.job),
      );
    });
    const pass = parseJob(options.job) ?? defaultPass(entry);
    const field = controlField(pass);
    if (ctx.json) ctx.outJson({ id: entry.id, control: entry.control, [field]: entry[field] });
    else if (field === 'control') ctx.info(throttleText(entry, options));
    else ctx.info(`${entry.id}: ${pass} ${JSON.stringify(entry[field])}`);
    return 0;
  },
});

/** `m: rate 500 docs/s per worker process, batch size 200; running workers pick it up ...` */
export function throttleText(
  entry: CatalogEntry,
  set: { rate?: number; batchSize?: number },
): string {
  const parts = [
    ...(set.rate !== undefined
      ? [`rate ${set.rate.toLocaleString('en-US')} docs/s per worker process`]
      : []),
    ...(set.batchSize !== undefined ? [`batch size ${set.batchSize.toLocaleString('en-US')}`] : []),
  ];
  const when =
    entry.status === MigrationStatus.backfilling || entry.status === MigrationStatus.paused
      ? 'every running worker picks it up before its next batch'
      : `the migration is ${entry.status}: kept for its next backfill run (a --rate given there wins)`;
  return `${entry.id}: ${parts.join(', ')}; ${when}`;
}
