import { complete } from '../../engine/complete.js';
import type { CliContext } from '../cli-context.js';
import { confirmTyped } from '../confirm.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export const completeCommand = defineCommand<{ yes?: boolean; force?: boolean; reason?: string }>({
  spec: {
    name: 'complete',
    summary:
      'finalise a verified migration: delete its journal — the last moment rollback is possible',
    details: [
      'Deletes the undo journal, the dead letters and the partition state of the migration and marks it complete. After this, rollback is no longer possible: going back takes a new migration. Asks for the migration id as confirmation unless --yes (required when there is no terminal). Only a verified migration can be completed (--force accepts a backfilled one).',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--yes', description: 'do not ask for confirmation' },
      { flags: '--force', description: 'complete a backfilled migration that was not verified' },
      { flags: '--reason <text>', description: 'why, for the audit log' },
    ],
    examples: [
      { command: 'switchyard complete 20261120-split-name' },
      { command: 'switchyard complete split-name --yes --reason "verified in staging and prod"' },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    return withProject(ctx, async (project) => {
      const migration = await project.migration(id!);
      ctx.err(
        `complete ${migration.id}: this deletes its undo journal. After this, rollback is no longer possible.`,
      );
      if (options.yes !== true) await confirmTyped(ctx, 'complete', 'migration id', migration.id);
      const entry = await complete(project, migration, {
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        force: options.force === true,
      });
      if (ctx.json) ctx.outJson({ id: entry.id, status: entry.status });
      else ctx.info(`${entry.id}: complete (journal deleted; rollback is no longer possible)`);
      return 0;
    });
  },
});
