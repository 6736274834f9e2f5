import { BackfillRefusedError, setPaused } from '../../engine/backfill.js';
import { resumeRefusal } from '../../state/catalog.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

function pauseResume(paused: boolean) {
  return defineCommand<{ reason?: string }>({
    spec: {
      name: paused ? 'pause' : 'resume',
      summary: paused
        ? 'pause a running backfill (every worker stops within one batch)'
        : 'resume a paused backfill',
      details: [
        paused
          ? 'Sets the pause flag in the state store. Every worker reads it before each batch, finishes the batch it is in, keeps its leases, and waits. Recorded in the audit log.'
          : 'Clears the pause flag: waiting workers continue from their checkpoints. If no worker is running, start one with `switchyard backfill <id>`. A migration that is not paused is refused (exit 2), as the dashboard refuses it. Recorded in the audit log.',
      ],
      arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
      options: [{ flags: '--reason <text>', description: 'why, for the audit log' }],
      examples: [
        {
          command: `switchyard ${paused ? 'pause' : 'resume'} 20261120-split-name --reason "${paused ? 'p99 latency up' : 'latency back to normal'}"`,
        },
      ],
    },
    async run(ctx: CliContext, [id], options): Promise<number> {
      const entry = await withProject(ctx, async (project) => {
        const m = await project.migration(id!);
        const refused = paused ? undefined : resumeRefusal(m.id, await project.catalog.get(m.id));
        if (refused !== undefined) {
          await project.record({
            command: 'resume',
            migration: m.id,
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            outcome: `refused: ${refused}`,
          });
          throw new BackfillRefusedError(refused);
        }
        return setPaused(project, m.id, paused, options.reason);
      });
      if (ctx.json) ctx.outJson({ id: entry.id, status: entry.status, control: entry.control });
      else ctx.info(`${entry.id}: ${entry.status}`);
      return 0;
    },
  });
}

export const pauseCommand = pauseResume(true);
export const resumeCommand = pauseResume(false);
