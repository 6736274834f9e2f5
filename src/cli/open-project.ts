import { Project } from '../project.js';
import type { CliContext } from './cli-context.js';

/** Open the project the global options describe, run `fn`, and close it whatever happens. */
export async function withProject<T>(
  ctx: CliContext,
  fn: (project: Project) => Promise<T>,
): Promise<T> {
  const config = await ctx.config();
  const project = await Project.open({
    config,
    store: await ctx.storeUrl(),
    cwd: ctx.io.cwd,
    ...(ctx.options.migrations !== undefined ? { migrationsDir: ctx.options.migrations } : {}),
    ...(ctx.options.actor !== undefined ? { actor: ctx.options.actor } : {}),
  });
  try {
    return await fn(project);
  } finally {
    await project.close();
  }
}
