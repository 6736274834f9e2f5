import type { OptionSpec } from './cli-spec.js';

/** An option's help text with its default, the same in `--help` and in docs/cli. */
export function describeOption(option: OptionSpec): string {
  const shown =
    option.defaultDescription ??
    (option.defaultValue !== undefined ? String(option.defaultValue) : undefined);
  return shown === undefined ? option.description : `${option.description} (default: ${shown})`;
}

/** The option's property name as commander gives it: `--batch-size <n>` -> `batchSize`. */
export function optionKey(option: OptionSpec): string {
  const long = /--([a-z0-9-]+)/i.exec(option.flags)?.[1] ?? option.flags;
  return long.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
