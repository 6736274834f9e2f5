import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';

export const countCommand = defineCommand<Record<string, never>>({
  spec: {
    name: 'count',
    summary: 'print the number of documents in a collection',
    details: ['A collection that does not exist has 0 documents.'],
    arguments: [{ name: 'collection', description: 'the collection to count' }],
    options: [],
    examples: [
      { command: 'switchyard count users' },
      { command: 'switchyard --store sqlite:./data.db count users --json' },
    ],
  },

  async run(ctx: CliContext, [name]): Promise<number> {
    const count = await ctx.withStore((store) => store.collection(name!).count());
    if (ctx.json) ctx.outJson({ collection: name, count });
    else ctx.out(String(count));
    return 0;
  },
});
