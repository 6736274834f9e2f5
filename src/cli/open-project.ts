import fs from 'node:fs';
import path from 'node:path';
import { Project } from '../project.js';
import { parseStoreUrl } from '../store/store-url.js';
import type { CliContext } from './cli-context.js';

/** Open the project the global options describe, run `fn`, and close it whatever happens. */
export async function withProject<T>(
  ctx: CliContext,
  fn: (project: Project) => Promise<T>,
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
