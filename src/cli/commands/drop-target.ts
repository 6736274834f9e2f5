import { dropTarget } from '../../engine/drop-target.js';
import type { CliContext } from '../cli-context.js';
import { confirmTyped } from '../confirm.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export const dropTargetCommand = defineCommand<{ yes?: boolean; reason?: string }>({
  spec: {
    name: 'drop-target',
    summary: 'delete the target collection of a side-by-side migration rolled back to off',
    details: [
      'Rolling a side-by-side migration back to off routes every read and write to the old collection again but leaves the target collection (and its data) where it was, so a later run can go forward again. This command deletes it. It is its own command, not an option of rollback or complete: rollback must stay a safe step back that loses nothing, complete finishes a migration forward, and dropping a collection cannot be undone, so it gets its own confirmation and its own line in the audit log.',
      'Refused (exit 2, nothing changed) while reads or writes could still go to the target: at any stage other than off, while a copy backfill is running or paused, on an in-place migration, or on one that never started. Asks for the target collection name as confirmation unless --yes (required when there is no terminal). Recorded in the audit log with the number of documents dropped.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--yes', description: 'do not ask for confirmation' },
      { flags: '--reason <text>', description: 'why, for the audit log' },
    ],
    examples: [
      { command: 'switchyard drop-target 20261120-users-v2' },
      { command: 'switchyard drop-target users-v2 --yes --reason "abandoned: p99 regression"' },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    return withProject(ctx, async (project) => {
      const migration = await project.migration(id!);
      const collection = migration.target?.collection;
      if (options.yes !== true && collection !== undefined) {
        const all = migration.allTargets.map((t) => t.target!.collection);
        ctx.err(
          all.length > 1
            ? `drop-target ${migration.id}: this deletes the collections ${all.join(', ')} and every document in them.`
            : `drop-target ${migration.id}: this deletes the collection ${collection} and every document in it.`,
        );
        await confirmTyped(ctx, 'drop-target', 'collection name', collection);
      }
      const r = await dropTarget(project, migration, {
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        baseDir: ctx.io.cwd,
      });
      if (ctx.json) ctx.outJson(r);
      else
        ctx.info(
          `${r.migration}: dropped ${(r.targets ?? [r]).map((t) => `${t.collection} (${t.documents} documents)`).join(', ')}`,
        );
      return 0;
    });
  },
});
