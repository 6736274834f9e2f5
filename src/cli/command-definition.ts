import type { CliContext } from './cli-context.js';
import type { CommandSpec } from './cli-spec.js';

/** A CLI command: its typed description (help + docs) and what it does. */
export interface CommandDefinition<O = Record<string, unknown>> {
  readonly spec: CommandSpec;
  /** runs the command; resolves with the exit code; throws SwitchyardErrors for failures */
  run(ctx: CliContext, args: readonly string[], options: O): Promise<number>;
  /** commands under this one (`schema infer`): a first argument naming one runs it instead */
  readonly subcommands?: readonly CommandDefinition[];
}

/** Erase a command's option type so commands can sit in one list. */
export function defineCommand<O>(command: CommandDefinition<O>): CommandDefinition {
  return command as unknown as CommandDefinition;
}
