import { controlField, defaultPass, setPaused } from '../../engine/runner/control.js';
import { JOB_OPTION, parseJob } from '../worker-options.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

function pauseResume(paused: boolean) {
  return defineCommand<{ reason?: string; job?: string }>({
    spec: {
      name: paused ? 'pause' : 'resume',
      summary: paused
        ? 'pause a running backfill, verify, rollback or catch-up (every worker stops within one batch)'
        : 'resume a paused backfill, verify, rollback or catch-up',
      details: [
        paused
          ? 'Sets the pause flag of the job (--job; the backfill, or the rollback while one runs) in the state store. Every worker of it reads the flag before each batch, finishes the batch it is in, keeps its leases, and waits. Recorded in the audit log.'
          : 'Clears the pause flag of the job (--job): waiting workers continue from their checkpoints. If no worker is running, start one (`switchyard backfill <id>`, `verify`, `rollback`). A backfill that is not paused is refused (exit 2), as the dashboard refuses it. Recorded in the audit log.',
      ],
      arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
      options: [{ flags: '--reason <text>', description: 'why, for the audit log' }, JOB_OPTION],
      examples: [
        {
          command: `switchyard ${paused ? 'pause' : 'resume'} 20261120-split-name --reason "${paused ? 'p99 latency up' : 'latency back to normal'}"`,
        },
      ],
    },
    async run(ctx: CliContext, [id], options): Promise<number> {
      const job = parseJob(options.job);
      const entry = await withProject(ctx, async (project) => {
        const m = await project.migration(id!);
        return setPaused(project, m.id, paused, options.reason, job);
      });
      const field = controlField(job ?? defaultPass(entry));
      if (ctx.json)
        ctx.outJson({
          id: entry.id,
          status: entry.status,
          control: entry.control,
          [field]: entry[field],
        });
      else
        ctx.info(
          `${entry.id}: ${entry.status}${field !== 'control' ? `, ${job ?? defaultPass(entry)} ${paused ? 'paused' : 'resumed'}` : ''}`,
        );
      return 0;
    },
  });
}

export const pauseCommand = pauseResume(true);
export const resumeCommand = pauseResume(false);
