/**
 * Find and load the Switchyard config: `switchyard.config.{ts,mts,js,mjs,json}` in a directory
 * (or a file named explicitly). TypeScript and JavaScript configs are loaded at run time with
 * jiti, so no build step is needed. A file that fails to load or validate is an InputError
 * naming the file and the field; no file at all means the defaults.
 */
import { withDefaultErrorBudget } from '../engine/error-budget.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { InputError, StoreUrlError, errorMessage } from '../core/errors.js';
import { parseInput } from '../core/input-schema.js';
import { loadModule } from '../core/load-module.js';
import { parseStoreUrl } from '../store/store-url.js';
import { DEFAULT_COMPATIBILITY } from '../migration/compatibility-mode.js';
import {
  CONFIG_FILE_NAMES,
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_STORE_URL,
  DEFAULT_VERSION_FIELD,
  APPROVAL_ACTIONS,
  configSchema,
  type ResolvedConfig,
} from './config-schema.js';

export interface LoadConfigOptions {
  /** a config file to load instead of searching `cwd` (relative to `cwd`); it must exist */
  file?: string;
}

export async function loadConfig(
  cwd: string,
  options: LoadConfigOptions = {},
): Promise<ResolvedConfig> {
  const file = options.file !== undefined ? resolve(cwd, options.file) : findConfigFile(cwd);
  if (file === undefined) {
    return {
      file: undefined,
      store: DEFAULT_STORE_URL,
      production: false,
      migrationsDir: resolve(cwd, DEFAULT_MIGRATIONS_DIR),
      state: undefined,
      versionField: DEFAULT_VERSION_FIELD,
      compatibility: DEFAULT_COMPATIBILITY,
      collections: {},
      approvals: undefined,
      windows: [],
      thresholds: withDefaultErrorBudget([]),
    };
  }
  if (!existsSync(file)) throw new InputError('config file not found', { file });
  const raw = await loadConfigModule(file);
  const config = parseInput(configSchema, raw, { file, prefix: 'invalid config: ' });
  for (const field of ['store', 'state'] as const) {
    const url = config[field];
    if (url === undefined) continue;
    try {
      parseStoreUrl(url, field);
    } catch (err) {
      const why = errorMessage(err).replace(`field '${field}': `, '');
      throw new StoreUrlError(why, { file, field }, { cause: err });
    }
  }
  return {
    file,
    store: config.store ?? DEFAULT_STORE_URL,
    production: config.production === true,
    migrationsDir: resolve(dirname(file), config.migrationsDir ?? DEFAULT_MIGRATIONS_DIR),
    state: config.state,
    versionField: config.versionField ?? DEFAULT_VERSION_FIELD,
    compatibility: config.compatibility ?? DEFAULT_COMPATIBILITY,
    collections: config.collections ?? {},
    approvals:
      config.approvals === undefined
        ? undefined
        : {
            required: config.approvals.required,
            forbidAuthor: config.approvals.forbidAuthor === true,
            for: config.approvals.for ?? APPROVAL_ACTIONS,
          },
    windows: config.windows ?? [],
    thresholds: withDefaultErrorBudget(config.thresholds ?? []),
  };
}

/** The first config file present in `dir`, or undefined. */
export function findConfigFile(dir: string): string | undefined {
  for (const name of CONFIG_FILE_NAMES) {
    const p = resolve(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

async function loadConfigModule(file: string): Promise<unknown> {
  if (extname(file) === '.json') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new InputError(
        `cannot read the config file: ${errorMessage(err)}`,
        { file },
        { cause: err },
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InputError(
        `the config file is not valid JSON: ${errorMessage(err)}`,
        { file },
        { cause: err },
      );
    }
  }
  let mod: unknown;
  try {
    const ns = await loadModule(file);
    mod = 'default' in ns ? ns.default : ns;
  } catch (err) {
    throw new InputError(
      `cannot load the config file: ${errorMessage(err)}`,
      { file },
      { cause: err },
    );
  }
  try {
    return typeof mod === 'function' ? ((await (mod as () => unknown)()) as unknown) : mod;
  } catch (err) {
    throw new InputError(
      `the config function threw: ${errorMessage(err)}`,
      { file },
      { cause: err },
    );
  }
}
