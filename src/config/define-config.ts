/**
 * `defineConfig`: the identity function that gives a `switchyard.config.ts` its types.
 *
 *   import { defineConfig } from 'switchyard';
 *   export default defineConfig({ store: process.env.DB_URL, migrationsDir: './migrations' });
 */
import type { SwitchyardConfig } from './config-schema.js';

export function defineConfig<const T extends SwitchyardConfig>(config: T): T {
  return config;
}
