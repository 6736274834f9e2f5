import { UsageError } from '../../core/errors.js';
import { drainRepairs } from '../../runtime/repair-queue.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export const repairCommand = defineCommand<{ limit: number }>({
  spec: {
    name: 'repair',
    summary: 'drain the repair queue of a side-by-side migration',
    details: [
      'Writes that the runtime could not make on the non-authoritative side (a failed shadow write, a failing up() or down()) wait in `_sy_repair_<id>`. This copies the authoritative side over for each, conditionally on the revision it read, and removes the entries that succeed. Entries are kept while the stage does not write both sides.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      {
        flags: '--limit <n>',
        description: 'the most entries to drain in this run',
        defaultValue: 1000,
        positiveInt: true,
      },
    ],
    examples: [{ command: 'switchyard repair 20261120-users-v2' }],
  },
  async run(ctx: CliContext, [id], options): Promise<number> {
    const result = await withProject(ctx, async (project) => {
      const m = await project.migration(id!);
      if (m.kind !== 'side-by-side')
        throw new UsageError(`${m.id} is an in-place migration: it has no repair queue`, {
          field: 'id',
        });
      return drainRepairs(project, m, { limit: options.limit });
    });
    if (ctx.json) ctx.outJson(result);
    else {
      ctx.info(`repaired ${result.repaired}, failed ${result.failed}, kept ${result.skipped}`);
      for (const e of result.errors) ctx.info(`  ${e.key}: ${e.error}`);
    }
    return result.failed > 0 ? 1 : 0;
  },
});
