import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../core/errors.js';
import { loadMigrations } from '../../migration/load-migrations.js';
import { InputError } from '../../core/errors.js';
import { getAll, parsePath } from '../../core/field-path.js';
import { toEJSONObject } from '../../core/values.js';
import { fromJsonSchema } from '../../schema/json-schema.js';
import { migrationSource } from '../../schema/migration-source.js';
import { SchemaBuilder } from '../../schema/infer-schema.js';
import { baseVersionOf, migrationsIfAny, sampleVersions } from '../../schema/sample-versions.js';
import { planToTarget } from '../../schema/target-plan.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';
import { resolveActor } from '../../state/actor.js';

export const DEFAULT_TARGET_SAMPLE = 500;

interface TargetSummary {
  steps: number;
  review: number;
  unreached: string[];
  kept: string[];
}

/**
 * The source of a migration from the collection's current schema to a target JSON Schema, or
 * undefined (after saying so) when the collection already matches it. Reads the target and
 * validates it before anything else: a bad target changes nothing.
 */
async function writeTowardTarget(
  ctx: CliContext,
  o: {
    id: string;
    collection: string;
    from: number;
    targetFile: string;
    sample: number;
    seed?: number;
  },
): Promise<{ source: string; summary: TargetSummary } | undefined> {
  const file = path.resolve(ctx.io.cwd, o.targetFile);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(
      `cannot read the target schema: ${(err as Error).message}`,
      { file: o.targetFile, field: '--to' },
      { cause: err },
    );
  }
  const target = fromJsonSchema(json, {
    collection: o.collection,
    version: o.from + 1,
    file: o.targetFile,
  });
  return withProject(ctx, async (project) => {
    const migrations = await migrationsIfAny(project);
    const sampled = await sampleVersions(project.store, o.collection, {
      size: o.sample,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      versionField: project.versionField,
      baseVersion: baseVersionOf(migrations, o.collection),
    });
    const docs = sampled.docs.filter((d) => d.version === o.from);
    if (docs.length === 0)
      throw new InputError(
        `no document of '${o.collection}' is at version ${o.from} among ${sampled.docs.length} sampled: there is no current schema to start from`,
        { field: '--collection' },
      );
    const builder = new SchemaBuilder([project.versionField]);
    for (const d of docs) builder.add(d.doc);
    const values = new Map<string, Set<string>>();
    const plan = planToTarget(builder.build(o.collection, o.from), target, {
      values: (p) => {
        let found = values.get(p);
        if (found === undefined) {
          const path = parsePath(p);
          found = new Set(
            docs.flatMap((d) =>
              getAll(d.doc, path).map((f) => JSON.stringify(toEJSONObject(f.value))),
            ),
          );
          values.set(p, found);
        }
        return found;
      },
    });
    const summary: TargetSummary = {
      steps: plan.steps.filter((s) => s.op !== undefined).length,
      review: plan.steps.filter((s) => s.review !== undefined).length,
      unreached: [...plan.unreached],
      kept: [...plan.kept],
    };
    if (plan.steps.length === 0 && plan.unreached.length === 0) {
      if (ctx.json)
        ctx.outJson({ collection: o.collection, from: o.from, written: false, ...summary });
      else
        ctx.info(
          `${o.collection} v${o.from} already matches ${o.targetFile} (${docs.length} documents sampled): no migration written`,
        );
      return undefined;
    }
    return {
      source: migrationSource({
        id: o.id,
        collection: o.collection,
        from: o.from,
        to: o.from + 1,
        plan,
        targetFile: o.targetFile,
        sampled: docs.length,
        author: project.actor,
      }),
      summary,
    };
  });
}

interface CreateOptions {
  collection?: string;
  from?: number;
  target?: string;
  to?: string;
  sample: number;
  seed?: number;
}

export function migrationTemplate(
  id: string,
  collection: string,
  from: number,
  to: number,
  target?: string,
  author?: string,
): string {
  return `import { defineMigration, renameField, addField } from 'switchyard';

/**
 * ${id}: describe what this migration changes and why.
 * Preview it with: switchyard plan ${id} --sample 100
 */
export default defineMigration({
  collection: ${JSON.stringify(collection)},
  from: ${from},
  to: ${to},${target !== undefined ? `\n  target: { collection: ${JSON.stringify(target)} },` : ''}${author !== undefined ? `\n  author: ${JSON.stringify(author)},` : ''}
  // rationale: 'why this change', owner: 'the team that owns it',
  operations: [
    // renameField('name', 'fullName'),
    // addField('tier', 'free'),
  ],
  // Custom logic, after the operations (down may be omitted; the undo journal still rolls back):
  // up: (doc) => ({ ...doc }),
  // down: (doc) => ({ ...doc }),
  // Numbers you compute lose their type: past 2147483647 an integer is stored as a Double, and
  // a Long used in arithmetic becomes a number (+ joins strings). Keep it with Long.fromNumber(n)
  // or doc.n.add(1) from 'bson' (docs/concepts/values.md, the Int32 / Double trap).
  verify: {
    invariants: [
      // (doc) => typeof doc.fullName === 'string' || 'fullName is missing',
    ],
  },
});
`;
}

export const createCommand = defineCommand<CreateOptions>({
  spec: {
    name: 'create',
    summary: 'write a new migration file from a typed template',
    details: [
      "The file is <migrations>/<yyyymmdd>-<name>.ts. Its from-version continues the chain of the collection's existing migrations unless --from is given.",
      "With --to, the migration is written for you: the collection's schema at the from-version is inferred from sampled documents and compared with the target (a JSON Schema: bsonType or type, properties, required, items, default, additionalProperties: false, x-renamedFrom), and the operations that reach it are chosen from the catalogue — renames (declared, or proposed where a field left and one arrived with fitting types; sure when the example values match too), nests and unnests, unwraps, coercions, wraps, additions with the target's defaults, removals where the target's object is closed. Guesses carry a REVIEW comment, and what no operation reaches is listed in the file's header. Then `switchyard plan` proves it on a sample. A target that is not a schema this understands is refused with the file and JSON pointer (exit 2), and nothing is written.",
    ],
    arguments: [{ name: 'name', description: 'a short name: letters, digits and dashes' }],
    options: [
      {
        flags: '-c, --collection <name>',
        description: 'the collection the migration changes (required)',
      },
      {
        flags: '--from <version>',
        description: 'the schema version documents start at',
        positiveInt: true,
      },
      {
        flags: '--target <collection>',
        description: 'make it side by side: write the new shape to this collection',
      },
      {
        flags: '--to <schema.json>',
        description: 'write the operations that take the collection to this target JSON Schema',
      },
      {
        flags: '--sample <n>',
        description: 'with --to: documents sampled to infer the current schema',
        defaultValue: DEFAULT_TARGET_SAMPLE,
        positiveInt: true,
      },
      { flags: '--seed <n>', description: 'with --to: seed the sample', positiveInt: true },
    ],
    examples: [
      { command: 'switchyard create split-name --collection users' },
      {
        command: 'switchyard create reshape --collection movies --to target.schema.json',
        comment: 'start the target from: switchyard schema infer movies --json-schema',
      },
    ],
  },

  async run(ctx: CliContext, [name], options): Promise<number> {
    if (!/^[A-Za-z0-9][A-Za-z0-9-_]*$/.test(name!))
      throw new UsageError('use letters, digits, "-" and "_" only', { field: 'name' });
    if (options.collection === undefined)
      throw new UsageError('--collection is required', { field: '--collection' });
    const config = await ctx.config();
    const dir = path.resolve(ctx.io.cwd, ctx.options.migrations ?? config.migrationsDir);
    fs.mkdirSync(dir, { recursive: true });
    let from = options.from;
    if (from === undefined) {
      const existing = (await loadMigrations(dir, { versionField: config.versionField })).filter(
        (m) => m.collection === options.collection,
      );
      from = existing.reduce((v, m) => Math.max(v, m.to), 1);
    }
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const id = `${day}-${name}`;
    const file = path.join(dir, `${id}.ts`);
    if (fs.existsSync(file)) throw new UsageError(`${file} already exists`, { file });
    if (options.to !== undefined) {
      const written = await writeTowardTarget(ctx, {
        id,
        collection: options.collection,
        from,
        targetFile: options.to,
        sample: options.sample,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      });
      if (written === undefined) return 0;
      fs.writeFileSync(file, written.source, { flag: 'wx' });
      if (ctx.json)
        ctx.outJson({
          id,
          file,
          collection: options.collection,
          from,
          to: from + 1,
          ...written.summary,
        });
      else {
        ctx.info(
          `created ${path.relative(ctx.io.cwd, file)} (${options.collection}: version ${from} -> ${from + 1}): ${written.summary.steps} operation(s) toward ${options.to}`,
        );
        if (written.summary.review > 0)
          ctx.info(`  ${written.summary.review} step(s) marked REVIEW: decide before it runs`);
        for (const u of written.summary.unreached) ctx.info(`  not reached: ${u}`);
        ctx.info(`  next: switchyard plan ${id}`);
      }
      return 0;
    }
    fs.writeFileSync(
      file,
      migrationTemplate(
        id,
        options.collection,
        from,
        from + 1,
        options.target,
        resolveActor(ctx.options.actor ?? ctx.io.env.SWITCHYARD_ACTOR),
      ),
      { flag: 'wx' },
    );
    if (ctx.json) ctx.outJson({ id, file, collection: options.collection, from, to: from + 1 });
    else
      ctx.info(
        `created ${path.relative(ctx.io.cwd, file)} (${options.collection}: version ${from} -> ${from + 1})`,
      );
    return 0;
  },
});
