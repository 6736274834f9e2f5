import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';

export const collectionsCommand = defineCommand<Record<string, never>>({
  spec: {
    name: 'collections',
    summary: 'list the collections of the store',
    details: ["Switchyard's own collections (names starting with `_sy_`) are left out."],
    arguments: [],
    options: [],
    examples: [{ command: 'switchyard collections --json' }],
  },

  async run(ctx: CliContext): Promise<number> {
    const names = await ctx.withStore((store) => store.listCollections());
    if (ctx.json) ctx.outJson({ collections: names });
    else for (const name of names) ctx.out(name);
    return 0;
  },
});
