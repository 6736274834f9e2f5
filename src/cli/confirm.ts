/**
 * The typed confirmation of a command that cannot be undone (complete, drop-target): the user
 * types a name back. Without a terminal (stdin and stderr) it refuses, telling to pass --yes;
 * a wrong answer refuses too. Either refusal is a UsageError (exit 2), before anything changed.
 */
import readline from 'node:readline/promises';
import { UsageError } from '../core/errors.js';
import type { CliContext } from './cli-context.js';

export async function confirmTyped(
  ctx: CliContext,
  command: string,
  what: string,
  expected: string,
): Promise<void> {
  const stdin = process.stdin;
  if (stdin.isTTY !== true || ctx.io.stderr.isTTY !== true)
    throw new UsageError(`${command} needs confirmation: run it in a terminal, or pass --yes`, {
      field: '--yes',
    });
  const rl = readline.createInterface({ input: stdin, output: ctx.io.stderr });
  const answer = await rl.question(`type the ${what} (${expected}) to confirm: `);
  rl.close();
  if (answer.trim() !== expected)
    throw new UsageError('not confirmed: nothing was changed', { field: 'confirmation' });
}
