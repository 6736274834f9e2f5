import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { waitingStoreCalls } from '../store-calls.js';

export const countCommand = defineCommand<Record<string, never>>({
  spec: {
    name: 'count',
    summary: 'print the number of documents in a collection',
    details: [
      'A collection that does not exist has 0 documents.',
      'A store that becomes unreachable (a server restarting or failing over) is waited for, up to about 40 s, and each wait is said on stderr; a count the server restarted under starts again.',
    ],
    arguments: [{ name: 'collection', description: 'the collection to count' }],
    options: [],
    examples: [
      { command: 'switchyard count users' },
      { command: 'switchyard --store sqlite:./data.db count users --json' },
    ],
  },

  async run(ctx: CliContext, [name]): Promise<number> {
    const call = waitingStoreCalls(ctx, 'count');
    const count = await ctx.withStore((store) =>
      call('count', () => store.collection(name!).count()),
    );
    if (ctx.json) ctx.outJson({ collection: name, count });
    else ctx.out(String(count));
    return 0;
  },
});
