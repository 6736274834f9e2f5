/**
 * The commander program, built from the typed specs in cli-spec.ts and commands/. Commander
 * never exits the process (exitOverride) and writes through the given streams; main() turns
 * its errors into exit codes.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../core/errors.js';
import { CliContext, type CliIo, type GlobalOptions } from './cli-context.js';
import {
  EXIT_CODES,
  GLOBAL_OPTIONS,
  globalOptionsSentence,
  PROGRAM_NAME,
  PROGRAM_SUMMARY,
  type CommandSpec,
  type OptionSpec,
} from './cli-spec.js';
import type { CommandDefinition } from './command-definition.js';
import { describeOption, optionKey } from './describe-option.js';

export interface BuiltProgram {
  readonly program: Command;
  /** the exit code of the command that ran, once parseAsync has resolved */
  exitCode(): number;
}

export function buildProgram(
  io: CliIo,
  commands: readonly CommandDefinition[],
  version: string,
): BuiltProgram {
  let exitCode = 0;
  const program = new Command(PROGRAM_NAME);
  program
    .description(PROGRAM_SUMMARY)
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => (io.stdout.isTTY === true ? (process.stdout.columns ?? 80) : 100),
      getErrHelpWidth: () => (io.stderr.isTTY === true ? (process.stderr.columns ?? 80) : 100),
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `\nExit codes:\n${EXIT_CODES.map((e) => `  ${e.code}  ${e.meaning}`).join('\n')}\n`,
    );
  for (const option of GLOBAL_OPTIONS) program.addOption(toOption(option));
  program.helpCommand('help [command]', 'print help for a command');

  const add = (parent: Command, definition: CommandDefinition): void => {
    const { spec } = definition;
    const command = parent
      .command(spec.name)
      .summary(spec.summary)
      .description(fullDescription(spec));
    for (const arg of spec.arguments) {
      command.argument(arg.optional === true ? `[${arg.name}]` : `<${arg.name}>`, arg.description);
    }
    for (const option of spec.options) command.addOption(toOption(option));
    if (spec.examples.length > 0) {
      const lines = spec.examples.map(
        (e) => `  $ ${e.command}${e.comment !== undefined ? `   # ${e.comment}` : ''}`,
      );
      command.addHelpText('after', `\nExamples:\n${lines.join('\n')}\n`);
    }
    if (spec.refusesGlobals !== undefined)
      command.addHelpText('after', `\n${globalOptionsSentence(spec, (f) => f)}.\n`);
    command.action(async (...actionArgs: unknown[]) => {
      const self = actionArgs[actionArgs.length - 1] as Command;
      const ctx = new CliContext(io, program.opts<GlobalOptions>());
      for (const name of spec.refusesGlobals?.options ?? [])
        if (ctx.options[name] !== undefined)
          throw new UsageError(
            `${spec.name} does not take --${name}: ${spec.refusesGlobals!.why}`,
            {
              field: `--${name}`,
            },
          );
      // commander gives an option the parent also has (`schema --json-schema`) to the parent
      const inherited = parent === program ? {} : pick(parent.opts(), spec.options);
      const options = { ...defaults(spec.options), ...inherited, ...self.opts() };
      exitCode = await definition.run(ctx, self.args, options);
    });
    for (const sub of definition.subcommands ?? []) add(command, sub);
  };
  for (const definition of commands) add(program, definition);
  return { program, exitCode: () => exitCode };
}

function fullDescription(spec: CommandSpec): string {
  return [spec.summary, ...(spec.details ?? [])].join('\n\n');
}

function toOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, describeOption(spec));
  if (spec.positiveInt === true) option.argParser(parsePositiveInt);
  if (spec.wholeNumber === true) option.argParser(parseWholeNumber);
  return option;
}

function pick(
  from: Record<string, unknown>,
  options: readonly OptionSpec[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of options)
    if (from[optionKey(o)] !== undefined) out[optionKey(o)] = from[optionKey(o)];
  return out;
}

function defaults(options: readonly OptionSpec[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of options) if (o.defaultValue !== undefined) out[optionKey(o)] = o.defaultValue;
  return out;
}

function parsePositiveInt(value: string): number {
  const n = digits(value);
  if (n === undefined || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

function parseWholeNumber(value: string): number {
  const n = digits(value);
  if (n === undefined) throw new InvalidArgumentError('expected a whole number (0, 1, 2, ...).');
  return n;
}

function digits(value: string): number | undefined {
  const n = Number(value);
  return /^\d+$/.test(value.trim()) && Number.isSafeInteger(n) ? n : undefined;
}
