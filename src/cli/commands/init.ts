import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../core/errors.js';
import {
  CONFIG_FILE_NAMES,
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_STORE_URL,
} from '../../config/config-schema.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';

export const CONFIG_TEMPLATE = (store: string) => `import { defineConfig } from 'switchyard';

export default defineConfig({
  // where the data lives: sqlite:PATH (the default), redis://..., dynamodb://..., mongodb://...
  store: ${JSON.stringify(store)},
  // where migration files live (switchyard create <name> --collection <c> adds one)
  migrationsDir: ${JSON.stringify(DEFAULT_MIGRATIONS_DIR)},
  // state: 'sqlite:./switchyard-state.db', // keep Switchyard's own state in another store
  // versionField: '_sv',                   // the document field holding the schema version
  // compatibility: 'BACKWARD',             // what \`switchyard check\` holds migrations to
  // approvals: { required: 2, forbidAuthor: true }, // before a backfill or a cut-over
});
`;

export const initCommand = defineCommand<{ force?: boolean }>({
  spec: {
    name: 'init',
    summary: 'create switchyard.config.ts and the migrations directory',
    details: [
      'Refuses to overwrite an existing config file. The store written into the config is --store, else the default.',
    ],
    arguments: [],
    options: [],
    examples: [
      { command: 'switchyard init' },
      { command: 'switchyard --store sqlite:./data/app.db init' },
    ],
  },

  async run(ctx: CliContext): Promise<number> {
    const dir = ctx.io.cwd;
    const existing = CONFIG_FILE_NAMES.map((n) => path.join(dir, n)).find((f) => fs.existsSync(f));
    if (existing !== undefined) {
      throw new UsageError(
        `${path.basename(existing)} already exists; init changes nothing. Edit it, or remove it first.`,
        {
          file: existing,
        },
      );
    }
    const store = ctx.options.store ?? DEFAULT_STORE_URL;
    const configFile = path.join(dir, 'switchyard.config.ts');
    const migrationsDir = path.resolve(dir, ctx.options.migrations ?? DEFAULT_MIGRATIONS_DIR);
    fs.mkdirSync(migrationsDir, { recursive: true });
    fs.writeFileSync(configFile, CONFIG_TEMPLATE(store), { flag: 'wx' });
    if (ctx.json) ctx.outJson({ config: configFile, migrationsDir });
    else {
      ctx.info(`created ${path.relative(dir, configFile)}`);
      ctx.info(`created ${path.relative(dir, migrationsDir) || '.'}/`);
      ctx.info(`next: switchyard create <name> --collection <collection>`);
    }
    return 0;
  },
});
