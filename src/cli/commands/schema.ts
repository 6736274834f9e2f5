import { UsageError } from '../../core/errors.js';
import { fromEJSONObject } from '../../core/values.js';
import { formatValue } from '../format-value.js';
import {
  showTypes,
  type CollectionSchema,
  type PathSchema,
} from '../../schema/collection-schema.js';
import { inferSchemas } from '../../schema/infer-schema.js';
import { toJsonSchema } from '../../schema/json-schema.js';
import {
  bestSchema,
  declaredSchema,
  registryKey,
  SchemaRegistry,
  SchemaSlot,
  type RegistryEntry,
} from '../../schema/registry.js';
import {
  baseVersionOf,
  DEFAULT_SCHEMA_SAMPLE,
  migrationsIfAny,
  sampleVersions,
} from '../../schema/sample-versions.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';
import { printTable } from './status.js';

interface ShowOptions {
  jsonSchema?: boolean;
  slot?: string;
}

interface InferOptions {
  sample: number;
  seed?: number;
  save?: boolean;
  jsonSchema?: boolean;
}

/** A schema version from the command line: a whole number >= 0. */
export function parseVersionArg(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text))
    throw new UsageError(`a schema version is a whole number, got '${text}'`, {
      field: 'version',
    });
  return Number(text);
}

/** A schema as a table: path, types, presence, examples. */
export function printSchema(ctx: CliContext, schema: CollectionSchema, title: string): void {
  ctx.out(title);
  for (const n of schema.notes ?? []) ctx.out(`  note: ${n}`);
  if (schema.paths.length === 0) {
    ctx.out('  (no fields)');
    return;
  }
  printTable(
    ctx,
    ['  PATH', 'TYPES', 'PRESENCE', 'EXAMPLES'],
    schema.paths.map((p) => [`  ${p.path}`, typesCell(p), presenceCell(p), examplesCell(p)]),
  );
}

function typesCell(p: PathSchema): string {
  const by = p.counts?.byType;
  if (by === undefined || p.types.length === 1) return showTypes(p.types);
  return p.types.map((t) => `${t} ${by[t] ?? 0}`).join(' | ');
}

function presenceCell(p: PathSchema): string {
  if (p.presence !== undefined) return `${(p.presence * 100).toFixed(p.presence === 1 ? 0 : 1)}%`;
  return p.required ? 'required' : 'optional';
}

function examplesCell(p: PathSchema): string {
  const show = (e: unknown) => formatValue(fromEJSONObject(e), 40);
  const shown = [
    ...(p.default !== undefined ? [`default ${show(p.default)}`] : []),
    ...(p.examples ?? []).map(show),
  ].join(', ');
  return shown.length > 60 ? `${shown.slice(0, 59)}…` : shown;
}

function describeEntry(e: RegistryEntry, schema: CollectionSchema): string {
  const slot =
    e.inferred === schema ? 'inferred' : e.predicted === schema ? 'predicted' : 'declared';
  const rec = e.recorded[slot];
  const from = schema.sampled !== undefined ? ` from ${schema.sampled} documents` : '';
  const by =
    rec !== undefined
      ? ` (recorded ${rec.at} by ${rec.by}${rec.migration !== undefined ? `, backfill of ${rec.migration}` : ''})`
      : '';
  const others = (['inferred', 'predicted', 'declared'] as const).filter(
    (s) => s !== slot && e[s] !== undefined,
  );
  return `${e.collection} v${e.version}: ${slot}${from}${by}${others.length > 0 ? `; also ${others.join(', ')}` : ''}`;
}

const inferCommand = defineCommand<InferOptions>({
  spec: {
    name: 'infer',
    summary: "read a collection's schema from its documents",
    details: [
      'Samples documents uniformly (one streaming pass) and prints, for each schema version found among them (the version field; absent means the base version of the collection), every field path with the types of its values — Extended JSON types stay apart: int, double, long, decimal, objectId, date, binData, ... — its presence among the objects that could hold it, and a few examples. No examples are kept for fields whose name says secret (password, token, ...).',
      'Nothing is written unless --save: then each version found is recorded in the schema registry (replacing what was inferred before), and the audit log says so.',
    ],
    arguments: [
      { name: 'collection', description: 'the collection' },
      { name: 'version', description: 'only this schema version', optional: true },
    ],
    options: [
      {
        flags: '--sample <n>',
        description: 'how many documents to sample',
        defaultValue: DEFAULT_SCHEMA_SAMPLE,
        positiveInt: true,
      },
      {
        flags: '--seed <n>',
        description: 'seed the sample, to repeat it exactly',
        positiveInt: true,
      },
      { flags: '--save', description: 'record the schemas in the registry' },
      {
        flags: '--json-schema',
        description:
          'print JSON Schema (bsonType, required, additionalProperties: false) instead: a start for a target schema',
      },
    ],
    examples: [
      { command: 'switchyard schema infer users' },
      { command: 'switchyard schema infer users 2 --save' },
      {
        command: 'switchyard schema infer movies --json-schema > target.schema.json',
        comment: 'then edit it and: switchyard create reshape --to target.schema.json',
      },
    ],
  },
  async run(ctx: CliContext, [collection, versionText], options): Promise<number> {
    const only = parseVersionArg(versionText);
    return withProject(ctx, async (project) => {
      const migrations = await migrationsIfAny(project);
      const sampled = await sampleVersions(project.store, collection!, {
        size: options.sample,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        versionField: project.versionField,
        baseVersion: baseVersionOf(migrations, collection!),
      });
      const schemas = inferSchemas(
        sampled.docs.filter((d) => only === undefined || d.version === only).map((d) => d.doc),
        {
          collection: collection!,
          versionField: project.versionField,
          baseVersion: baseVersionOf(migrations, collection!),
        },
      );
      if (only !== undefined && schemas.length === 0) {
        const found = [...new Set(sampled.docs.map((d) => d.version))].sort((a, b) => a - b);
        throw new UsageError(
          `no document of ${collection} is at version ${only} among ${sampled.docs.length} sampled (found: ${found.map((v) => `v${v}`).join(', ') || 'none'})`,
          { field: 'version' },
        );
      }
      const saved: string[] = [];
      if (options.save === true) {
        const registry = new SchemaRegistry(project.stateStore);
        for (const s of schemas) {
          await registry.record(s.collection, s.version, SchemaSlot.inferred, s, {
            actor: project.actor,
            replace: true,
          });
          saved.push(registryKey(s.collection, s.version));
          await project.record({
            command: 'schema.infer',
            params: {
              collection: s.collection,
              version: s.version,
              sampled: s.sampled ?? 0,
              paths: s.paths.length,
            },
            outcome: 'ok',
          });
        }
      }
      if (options.jsonSchema === true) {
        const out = schemas.map(toJsonSchema);
        ctx.outJson(out.length === 1 ? out[0] : out);
      } else if (ctx.json) {
        ctx.outJson({
          collection,
          total: sampled.total,
          sampled: sampled.docs.length,
          schemas,
          saved,
        });
      } else {
        if (schemas.length === 0) ctx.out(`${collection}: no documents`);
        schemas.forEach((s, i) => {
          if (i > 0) ctx.out('');
          printSchema(
            ctx,
            s,
            `${collection} v${s.version}: inferred from ${s.sampled} of ${sampled.total} documents`,
          );
        });
        if (saved.length > 0) ctx.info(`recorded in the schema registry: ${saved.join(', ')}`);
      }
      return 0;
    });
  },
});

export const schemaCommand = defineCommand<ShowOptions>({
  spec: {
    name: 'schema',
    summary: "print a collection's schema from the registry (`schema infer`: from its documents)",
    details: [
      "The schema registry keeps, per collection and schema version, what is known of its documents' shape: `inferred` from documents at that version, `predicted` from the migration that makes it (up() run on sampled documents of the version before), `declared` (the migration's verify.schema). A backfill records them when it starts; `switchyard schema infer --save` records any version. This prints the best one (inferred, else predicted, else declared) of the given version, or of the newest version recorded.",
      'The version is a positional argument (`schema users 2`): `--version` is the program-wide flag that prints the version of switchyard.',
    ],
    arguments: [
      { name: 'collection', description: "the collection (or 'infer', see schema infer)" },
      {
        name: 'version',
        description: 'the schema version (default: the newest recorded)',
        optional: true,
      },
    ],
    options: [
      {
        flags: '--slot <slot>',
        description: 'which schema of the version: inferred, predicted or declared',
      },
      { flags: '--json-schema', description: 'print it as JSON Schema' },
    ],
    examples: [
      { command: 'switchyard schema users' },
      { command: 'switchyard schema users 2 --slot predicted --json-schema' },
    ],
  },
  subcommands: [inferCommand],
  async run(ctx: CliContext, [collection, versionText], options): Promise<number> {
    const version = parseVersionArg(versionText);
    const slot = options.slot;
    if (slot !== undefined && !Object.values(SchemaSlot).includes(slot as SchemaSlot))
      throw new UsageError(
        `--slot is one of ${Object.values(SchemaSlot).join(', ')}, got '${slot}'`,
        {
          field: '--slot',
        },
      );
    return withProject(ctx, async (project) => {
      const registry = new SchemaRegistry(project.stateStore);
      const entries = await registry.list(collection);
      const entry =
        version === undefined
          ? entries[entries.length - 1]
          : entries.find((e) => e.version === version);
      if (entry === undefined)
        throw new UsageError(
          entries.length === 0
            ? `the schema registry has nothing for ${collection}: a backfill records it when it starts, or run: switchyard schema infer ${collection} --save`
            : `the schema registry has no v${version} of ${collection} (it has ${entries.map((e) => `v${e.version}`).join(', ')})`,
          { field: 'version' },
        );
      const schema =
        slot === undefined
          ? bestSchema(entry)
          : slot === 'declared'
            ? declaredSchema(entry)
            : entry[slot as 'inferred' | 'predicted'];
      if (schema === undefined)
        throw new UsageError(`${collection} v${entry.version} has no ${slot} schema`, {
          field: '--slot',
        });
      if (options.jsonSchema === true)
        ctx.outJson(slot === 'declared' ? entry.declared : toJsonSchema(schema));
      else if (ctx.json) ctx.outJson({ ...entry, versions: entries.map((e) => e.version) });
      else {
        printSchema(ctx, schema, describeEntry(entry, schema));
        if (entries.length > 1)
          ctx.out(`  versions recorded: ${entries.map((e) => `v${e.version}`).join(', ')}`);
      }
      return 0;
    });
  },
});
