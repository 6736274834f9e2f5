import { approvalStatus, approve } from '../../state/approvals.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export const approveCommand = defineCommand<{ reason?: string }>({
  spec: {
    name: 'approve',
    summary: 'approve a migration as its file is now (recorded in the audit log)',
    details: [
      "Appends an approval by the acting user (--actor, $SWITCHYARD_ACTOR, else the OS user) of the migration's file as it is now, by its SHA-256: an approval of an earlier version of the file does not count, so what was reviewed is what runs. The config's `approvals` can require N approvals by distinct actors before a backfill or a cut-over (`required`, `for`), and can forbid the migration's `author` from approving it (`forbidAuthor`): such an approval is refused with exit 2 and nothing is recorded.",
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [{ flags: '--reason <text>', description: 'why, for the audit log' }],
    examples: [
      { command: 'switchyard approve 20261120-split-name --actor bob --reason "reviewed in #412"' },
    ],
  },
  async run(ctx: CliContext, [id], options): Promise<number> {
    const { entry, status } = await withProject(ctx, async (project) => {
      const m = await project.migration(id!);
      const entry = await approve(project, m, options.reason);
      return { entry, status: await approvalStatus(project, m) };
    });
    if (ctx.json) ctx.outJson({ approval: entry, ...status });
    else {
      ctx.info(
        `${entry.migration}: approved by ${entry.actor} (audit #${entry.seq}, file sha256 ${String(entry.params?.checksum ?? '').slice(0, 12)})`,
      );
      ctx.info(
        status.required > 0
          ? `  approvals of this file: ${status.approvers.length} of ${status.required} required (${status.approvers.join(', ')})`
          : `  approvals of this file: ${status.approvers.length} (${status.approvers.join(', ')}); the config requires none`,
      );
    }
    return 0;
  },
});
