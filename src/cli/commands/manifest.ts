import path from 'node:path';
import { loadMigrations } from '../../migration/load-migrations.js';
import { checkMigrations } from '../../schema/check-migrations.js';
import { buildManifest, type ManifestEntry } from '../../schema/manifest.js';
import { approvalStatus, type ApprovalStatus } from '../../state/approvals.js';
import type { CatalogEntry } from '../../state/catalog.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { storeFileMissing, withProject } from '../open-project.js';
import { fromFile, projectSources } from './check.js';

export const manifestCommand = defineCommand<{ schemas?: string }>({
  spec: {
    name: 'manifest',
    summary:
      'list every change: what, why, whose, where it writes, compatibility, status, approvals',
    details: [
      'One entry per migration file: its collection and versions, description, `rationale`, `owner` and `author` (optional fields of defineMigration), the stores and collections it writes, its operations, whether it can be undone exactly, its compatibility class and whether it meets its mode (as `switchyard check` judges it from the schema registry — the manifest samples no data), its status in the catalog and its approvals of the file as it is now. Nothing is written.',
    ],
    arguments: [],
    options: [
      {
        flags: '--schemas <dir>',
        description: 'JSON Schema files `<collection>.v<N>.schema.json`, as for check',
      },
    ],
    examples: [
      { command: 'switchyard manifest' },
      { command: 'switchyard manifest --json > manifest.json' },
    ],
  },
  async run(ctx: CliContext, _args, options): Promise<number> {
    const config = await ctx.config();
    const schemasDir =
      options.schemas !== undefined ? path.resolve(ctx.io.cwd, options.schemas) : undefined;
    const storeUrl = await ctx.storeUrl();
    const policy = { compatibility: config.compatibility, collections: config.collections };
    let entries: ManifestEntry[];
    if (await storeFileMissing(ctx)) {
      const migrations = await loadMigrations(
        path.resolve(ctx.io.cwd, ctx.options.migrations ?? config.migrationsDir),
        { versionField: config.versionField },
      );
      const report = await checkMigrations(migrations, policy, {
        schema: async (c, v) => fromFile(schemasDir, c, v),
        sample: async () => [],
      });
      entries = buildManifest({
        migrations,
        storeUrl,
        catalog: new Map(),
        checks: report.migrations,
        approvals: new Map(),
      });
    } else {
      entries = await withProject(ctx, async (project) => {
        const migrations = await project.migrations();
        const report = await checkMigrations(
          migrations,
          policy,
          projectSources(project, migrations, schemasDir, undefined),
        );
        const catalog = new Map<string, CatalogEntry>(
          (await project.catalog.list()).map((e) => [e.id, e]),
        );
        const approvals = new Map<string, ApprovalStatus>();
        for (const m of migrations) approvals.set(m.id, await approvalStatus(project, m));
        return buildManifest({
          migrations,
          storeUrl,
          catalog,
          checks: report.migrations,
          approvals,
        });
      });
    }
    if (ctx.json) ctx.outJson({ migrations: entries });
    else printManifest(ctx, entries);
    return 0;
  },
});

function printManifest(ctx: CliContext, entries: readonly ManifestEntry[]): void {
  if (entries.length === 0) {
    ctx.out('no migrations');
    return;
  }
  entries.forEach((e, i) => {
    if (i > 0) ctx.out('');
    ctx.out(`${e.id}  ${e.collection} v${e.from} -> v${e.to} (${e.kind}), ${e.status}`);
    const row = (label: string, value: string | undefined) => {
      if (value !== undefined && value !== '') ctx.out(`  ${label.padEnd(14)} ${value}`);
    };
    row('description', e.description);
    row('rationale', e.rationale ?? '(none given)');
    row('owner', e.owner ?? '(none given)');
    row('author', e.author);
    row('writes', e.targets.map((t) => `${t.collection} in ${t.store}`).join('; '));
    row(
      'does',
      [...e.operations, ...(e.customUp ? ['custom up()'] : [])].join('; ') || '(nothing yet)',
    );
    row('undo', e.reversible ? 'exact inverse' : 'lossy: rollback uses the undo journal');
    row(
      'compatibility',
      `${e.compatibility.judged ? '' : `not judged: no schema of v${e.from} is known (switchyard check samples the data); cautiously `}${e.compatibility.class}; mode ${e.compatibility.mode}: ${e.compatibility.ok ? 'meets it' : `FAILS (${e.compatibility.errors.length} error${e.compatibility.errors.length === 1 ? '' : 's'}: switchyard check ${e.id})`}`,
    );
    row(
      'approvals',
      `${e.approvals.approvers.length}${e.approvals.required > 0 ? ` of ${e.approvals.required} required` : ''}${e.approvals.approvers.length > 0 ? ` (${e.approvals.approvers.join(', ')})` : ''}`,
    );
  });
}
