import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { waitingStoreCalls } from '../store-calls.js';

export const countCommand = defineCommand<Record<string, never>>({
  spec: {
    name: 'count',
    summary: 'print the number of documents in a collection',
    details: [
      'A collection that does not exist has 0 documents.',
      'Keys in the collection that are not documents (on Redis, a key of another type: a hash among string documents) are not counted; how many there are is said on stderr (and as `notDocuments` with --json). Backfill dead-letters them by key, verify and export name them.',
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
    const [count, others] = await ctx.withStore(async (store) => {
      const c = store.collection(name!);
      return [
        await call('count', () => c.count()),
        c.countNotDocuments === undefined ? {} : await call('count', () => c.countNotDocuments!()),
      ] as const;
    });
    const strays = Object.values(others).reduce((a, b) => a + b, 0);
    if (ctx.json)
      ctx.outJson({ collection: name, count, ...(strays > 0 ? { notDocuments: others } : {}) });
    else ctx.out(String(count));
    if (strays > 0 && !ctx.json) ctx.err(notDocumentsText(name!, strays, others));
    return 0;
  },
});

/** `2 keys of 'users' are not documents (1 hash, 1 list): ...` */
export function notDocumentsText(
  collection: string,
  n: number,
  by: Readonly<Record<string, number>>,
): string {
  const kinds = Object.entries(by)
    .map(([t, k]) => `${k} ${t}`)
    .join(', ');
  return `${n} key${n === 1 ? '' : 's'} of '${collection}' ${n === 1 ? 'is' : 'are'} not ${n === 1 ? 'a document' : 'documents'} (${kinds}): not counted; backfill dead-letters ${n === 1 ? 'it' : 'them'} by key, verify and export name ${n === 1 ? 'it' : 'them'}`;
}
