import { resolveId } from '../../core/resolve-id.js';
import type { Project } from '../../project.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';
import { printTable } from './status.js';

interface AuditOptions {
  verify?: boolean;
  limit?: number;
  migration?: string;
}

export const auditCommand = defineCommand<AuditOptions>({
  spec: {
    name: 'audit',
    summary: 'show the audit log; --verify checks its hash chain',
    details: [
      'Every state change (who, what, when, why, parameters, outcome) is appended to a hash-chained log in the state store. --verify recomputes the chain and exits 1 naming the first entry that was edited, removed or reordered.',
    ],
    arguments: [],
    options: [
      {
        flags: '--verify',
        description: 'check the hash chain; exit 1 and name the first bad entry when it is broken',
      },
      { flags: '--limit <n>', description: 'show only the newest N entries', positiveInt: true },
      {
        flags: '--migration <id>',
        description: 'show only the entries of one migration (its id or an unambiguous part of it)',
      },
    ],
    examples: [
      { command: 'switchyard audit --limit 20' },
      { command: 'switchyard audit --verify' },
      { command: 'switchyard audit --migration split-name' },
    ],
  },

  async run(ctx: CliContext, _args, options): Promise<number> {
    return withProject(ctx, async (project) => {
      if (options.verify === true) {
        const res = await project.audit.verify();
        if (ctx.json) ctx.outJson(res);
        else if (res.ok) ctx.out(`audit log intact: ${res.entries} entries, hash chain verified`);
        else
          ctx.out(
            `audit log BROKEN at entry ${res.firstBad!.seq} (key ${res.firstBad!.key}): ${res.firstBad!.problem}`,
          );
        return res.ok ? 0 : 1;
      }
      const migration =
        options.migration !== undefined
          ? await resolveAuditMigration(project, options.migration)
          : undefined;
      const entries = await project.audit.entries({
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(migration !== undefined ? { migration } : {}),
      });
      if (ctx.json) ctx.outJson({ entries });
      else if (entries.length === 0)
        ctx.out(
          migration !== undefined
            ? `the audit log has no entries for migration ${migration}`
            : 'the audit log is empty',
        );
      else {
        printTable(
          ctx,
          ['#', 'WHEN', 'ACTOR', 'COMMAND', 'MIGRATION', 'OUTCOME', 'REASON'],
          entries.map((e) => [
            String(e.seq),
            e.at,
            e.actor,
            e.command,
            e.migration ?? '',
            e.outcome,
            e.reason ?? '',
          ]),
        );
      }
      return 0;
    });
  },
});

/**
 * The migration `part` names among those the audit log, the catalog and the migration files
 * know (a migration whose file is gone still has its entries; files that do not load are left
 * out rather than hiding the log).
 */
async function resolveAuditMigration(project: Project, part: string): Promise<string> {
  const ids = await project.audit.migrationIds();
  for (const e of await project.catalog.list()) ids.add(e.id);
  const files = await project.migrations().catch(() => []);
  for (const m of files) ids.add(m.id);
  return resolveId(part, ids, { field: '--migration' });
}
