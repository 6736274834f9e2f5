import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../core/errors.js';
import { loadMigrations } from '../../migration/load-migrations.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';

interface CreateOptions {
  collection?: string;
  from?: number;
  target?: string;
}

export function migrationTemplate(
  id: string,
  collection: string,
  from: number,
  to: number,
  target?: string,
): string {
  return `import { defineMigration, renameField, addField } from 'switchyard';

/**
 * ${id}: describe what this migration changes and why.
 * Preview it with: switchyard plan ${id} --sample 100
 */
export default defineMigration({
  collection: ${JSON.stringify(collection)},
  from: ${from},
  to: ${to},${target !== undefined ? `\n  target: { collection: ${JSON.stringify(target)} },` : ''}
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
    ],
    examples: [{ command: 'switchyard create split-name --collection users' }],
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
    fs.writeFileSync(
      file,
      migrationTemplate(id, options.collection, from, from + 1, options.target),
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
