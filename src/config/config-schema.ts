/**
 * The shape of `switchyard.config.*`, as a zod schema (validation) and the types users write
 * (`SwitchyardConfig`) and the rest of the code reads (`ResolvedConfig`).
 */
import { z } from 'zod';

export const DEFAULT_STORE_URL = 'sqlite:./switchyard.db';
export const DEFAULT_MIGRATIONS_DIR = './migrations';
export { DEFAULT_VERSION_FIELD } from '../migration/migration.js';

export const CONFIG_FILE_NAMES = [
  'switchyard.config.ts',
  'switchyard.config.mts',
  'switchyard.config.js',
  'switchyard.config.mjs',
  'switchyard.config.json',
] as const;

const nonEmpty = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`);

export const configSchema = z
  .object({
    /** the store URL holding the data: memory:, sqlite:PATH, redis://..., ... */
    store: nonEmpty('store').optional(),
    /** where migration files live, relative to the config file */
    migrationsDir: nonEmpty('migrationsDir').optional(),
    /** the store URL holding Switchyard's own state (default: the data store) */
    state: nonEmpty('state').optional(),
    /** the document field holding the schema version (default `_sv`) */
    versionField: nonEmpty('versionField').optional(),
  })
  .strict();

/** What a config file may contain (every field optional). */
export type SwitchyardConfig = z.input<typeof configSchema>;

/** A config with defaults applied and paths made absolute. */
export interface ResolvedConfig {
  /** the config file, absolute, or undefined when none was found */
  readonly file: string | undefined;
  readonly store: string;
  /** absolute path */
  readonly migrationsDir: string;
  /** the state store URL, or undefined to keep state in the data store */
  readonly state: string | undefined;
  readonly versionField: string;
}
