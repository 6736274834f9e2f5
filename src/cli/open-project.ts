import fs from 'node:fs';
import path from 'node:path';
import type { ChaosSpec } from '../store/chaos-spec.js';
import type { Migration } from '../migration/migration.js';
import { Project } from '../project.js';
import { parseStoreUrl } from '../store/store-url.js';
import type { CliContext } from './cli-context.js';

/** Open the project the global options describe, run `fn`, and close it whatever happens. */
export async function withProject<T>(
  ctx: CliContext,
  fn: (project: Project) => Promise<T>,
  options: { chaos?: ChaosSpec | undefined } = {},
): Promise<T> {
  const config = await ctx.config();
  const actor = ctx.options.actor ?? ctx.io.env.SWITCHYARD_ACTOR;
  const project = await Project.open({
    config,
    store: await ctx.storeUrl(),
    cwd: ctx.io.cwd,
    ...(ctx.options.migrations !== undefined ? { migrationsDir: ctx.options.migrations } : {}),
    // --actor, else $SWITCHYARD_ACTOR of the command's environment (which tests give in-process)
    ...(actor !== undefined && actor.trim() !== '' ? { actor } : {}),
    ...(options.chaos !== undefined ? { chaos: options.chaos } : {}),
  });
  try {
    return await fn(project);
  } finally {
    await project.close();
  }
}

/** The default store is an SQLite file that is not there: opening it would create it. */
export async function storeFileMissing(ctx: CliContext): Promise<boolean> {
  const config = await ctx.config();
  if (config.state !== undefined) return false;
  const parsed = parseStoreUrl(await ctx.storeUrl());
  if (parsed.scheme !== 'sqlite' || parsed.path === undefined || parsed.path === ':memory:')
    return false;
  return !fs.existsSync(path.resolve(ctx.io.cwd, parsed.path));
}

/**
 * The migration `id` of the project, once its collection is known to exist where the store
 * says it can be missing by mistake (Collection.requireExists: a DynamoDB table in another
 * region). Commands that read the collection use it before they write anything.
 */
export async function existingMigration(project: Project, id: string): Promise<Migration> {
  const migration = await project.migration(id);
  await project.store.collection(migration.collection).requireExists?.();
  return migration;
}
