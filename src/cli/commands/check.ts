import fs from 'node:fs';
import path from 'node:path';
import type { Doc } from '../../core/values.js';
import { findMigration, loadMigrations } from '../../migration/load-migrations.js';
import type { Migration } from '../../migration/migration.js';
import type { Project } from '../../project.js';
import {
  checkMigrations,
  summarize,
  type BaseSource,
  type CheckPolicy,
  type CheckReport,
  type CheckSources,
  type MigrationCheck,
} from '../../schema/check-migrations.js';
import type { CollectionSchema } from '../../schema/collection-schema.js';
import { fromJsonSchema } from '../../schema/json-schema.js';
import { SchemaRegistry, declaredSchema } from '../../schema/registry.js';
import {
  baseVersionOf,
  DEFAULT_SCHEMA_SAMPLE,
  sampleVersions,
  type VersionedSample,
} from '../../schema/sample-versions.js';
import { InputError } from '../../core/errors.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { storeFileMissing, withProject } from '../open-project.js';

interface CheckOptions {
  offline?: boolean;
  schemas?: string;
  sample: number;
  seed?: number;
}

export const checkCommand = defineCommand<CheckOptions>({
  spec: {
    name: 'check',
    summary: 'judge every migration against its collection’s compatibility mode (for CI)',
    details: [
      "For each migration: the schema of its `from` version (the schema registry's, else one inferred from sampled documents at `from`, else the one predicted for the migration before it in the chain), the schema its operations make of it (from each operation's declared effects; a custom up() or mapValue from running it on the sampled documents), and what changes between them: fields added, removed, renamed, retyped, made required or optional.",
      "Each migration is classified: full (readers of either version read documents of both), backward (new readers read old documents), forward (old readers read new documents) or sideways (neither). The mode — the migration's `compatibility`, else its collection's in the config, else the config's `compatibility`, else BACKWARD — says which must hold (BACKWARD, FORWARD, FULL, NONE; the _TRANSITIVE ones against every earlier version). Removing, renaming or retyping a field a consumer of the config reads is an error in every mode. Read-time aliases (`aliases` in the migration) make a rename harmless to readers, not to consumers.",
      'Nothing is written. --offline opens no store (no registry, no samples): for CI without database access, with --schemas DIR holding `<collection>.v<N>.schema.json` files (as `switchyard schema <collection> <N> --json-schema` prints them). Exit 1 when any migration fails its mode.',
    ],
    arguments: [
      { name: 'id', description: 'only this migration (its chain is still read)', optional: true },
    ],
    options: [
      {
        flags: '--offline',
        description: 'open no store: judge from migration files and --schemas only',
      },
      {
        flags: '--schemas <dir>',
        description: 'JSON Schema files `<collection>.v<N>.schema.json`, used before the registry',
      },
      {
        flags: '--sample <n>',
        description:
          'documents to sample per collection, where the registry has no schema or code must run',
        defaultValue: DEFAULT_SCHEMA_SAMPLE,
        positiveInt: true,
      },
      { flags: '--seed <n>', description: 'seed the sample', positiveInt: true },
    ],
    examples: [
      { command: 'switchyard check' },
      { command: 'switchyard check --offline --schemas ./schemas --json', comment: 'in CI' },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    const config = await ctx.config();
    const dir = path.resolve(ctx.io.cwd, ctx.options.migrations ?? config.migrationsDir);
    const schemasDir =
      options.schemas !== undefined ? path.resolve(ctx.io.cwd, options.schemas) : undefined;
    if (
      schemasDir !== undefined &&
      !fs.statSync(schemasDir, { throwIfNoEntry: false })?.isDirectory()
    )
      throw new InputError(`--schemas must be a directory: ${schemasDir}`, { field: '--schemas' });
    const policy: CheckPolicy = {
      compatibility: config.compatibility,
      collections: config.collections,
    };
    let target: string | undefined;
    const pick = (all: Migration[]): Migration[] => {
      if (id === undefined) return all;
      const m = findMigration(all, id);
      target = m.id;
      return all.filter((x) => x.collection === m.collection && x.from <= m.from);
    };
    const only = (r: CheckReport): CheckReport =>
      target === undefined ? r : summarize(r.migrations.filter((c) => c.migration === target));
    const offline = options.offline === true || (await storeFileMissing(ctx));
    let report: CheckReport;
    if (offline) {
      const migrations = pick(await loadMigrations(dir, { versionField: config.versionField }));
      report = await checkMigrations(migrations, policy, {
        schema: async (c, v) => fromFile(schemasDir, c, v),
        sample: async () => [],
      });
    } else {
      report = await withProject(ctx, async (project) => {
        const migrations = pick(await project.migrations());
        return checkMigrations(
          migrations,
          policy,
          projectSources(project, migrations, schemasDir, options),
        );
      });
    }
    report = only(report);
    if (ctx.json) ctx.outJson({ ...report, offline });
    else printReport(ctx, report, offline);
    return report.ok ? 0 : 1;
  },
});

export function fromFile(
  dir: string | undefined,
  collection: string,
  version: number,
): { schema: CollectionSchema; source: BaseSource } | undefined {
  if (dir === undefined) return undefined;
  const file = path.join(dir, `${collection}.v${version}.schema.json`);
  if (!fs.existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file }, { cause: err });
  }
  return { schema: fromJsonSchema(json, { collection, version, file }), source: 'schemas file' };
}

/**
 * Where check finds schemas and documents: the --schemas files, then the registry; documents
 * sampled from the data store (none when `sampling` is undefined).
 */
export function projectSources(
  project: Project,
  migrations: readonly Migration[],
  schemasDir: string | undefined,
  sampling: { sample: number; seed?: number } | undefined,
): CheckSources {
  const registry = new SchemaRegistry(project.stateStore);
  const samples = new Map<string, Promise<VersionedSample>>();
  return {
    async schema(collection, version) {
      const file = fromFile(schemasDir, collection, version);
      if (file !== undefined) return file;
      const entry = await registry.get(collection, version);
      if (entry === null) return undefined;
      if (entry.inferred !== undefined)
        return { schema: entry.inferred, source: 'registry:inferred' };
      if (entry.predicted !== undefined)
        return { schema: entry.predicted, source: 'registry:predicted' };
      const declared = declaredSchema(entry);
      return declared === undefined ? undefined : { schema: declared, source: 'registry:declared' };
    },
    async sample(m, version): Promise<Doc[]> {
      if (sampling === undefined) return [];
      let s = samples.get(m.collection);
      if (s === undefined) {
        s = sampleVersions(project.store, m.collection, {
          size: sampling.sample,
          ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
          versionField: m.versionField,
          baseVersion: baseVersionOf(migrations, m.collection),
        });
        samples.set(m.collection, s);
      }
      return (await s).docs.filter((d) => d.version === version).map((d) => d.doc);
    },
  };
}

const BASE_TEXT: Record<BaseSource, string> = {
  'registry:inferred': 'the registry (inferred from documents)',
  'registry:predicted': 'the registry (predicted by the migration before)',
  'registry:declared': 'the registry (declared)',
  'schemas file': 'the --schemas file',
  sample: 'sampled documents',
  chain: 'the migration before it (predicted)',
  none: 'nothing: every path it touches is taken to exist and be required, of any type',
};

function printReport(ctx: CliContext, r: CheckReport, offline: boolean): void {
  if (offline) ctx.out('(offline: no store opened)');
  for (const c of r.migrations) printCheck(ctx, c);
  const failed = r.migrations.filter((c) => !c.ok).length;
  ctx.out(
    `${r.migrations.length} migration${r.migrations.length === 1 ? '' : 's'} checked: ${failed === 0 ? 'all pass' : `${failed} FAIL`} (${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}); nothing was written.`,
  );
}

function printCheck(ctx: CliContext, c: MigrationCheck): void {
  ctx.out(
    `${c.migration}: ${c.collection} v${c.from} -> v${c.to} is ${c.class}; mode ${c.mode} (from the ${c.modeFrom}): ${c.ok ? 'pass' : 'FAIL'}`,
  );
  ctx.out(
    `  v${c.from} schema from ${BASE_TEXT[c.base]}; v${c.to} from ${c.judged === 'samples' ? 'running up() on sampled documents' : 'the operations'}`,
  );
  for (const f of c.findings)
    ctx.out(
      `  ${f.severity === 'error' ? 'error  ' : 'warning'} ${f.against !== c.from ? `(against v${f.against}) ` : ''}${f.message}`,
    );
  for (const w of c.warnings) ctx.out(`  note    ${w.operation}: ${w.message} ('${w.path}')`);
}
