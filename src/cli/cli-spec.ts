/**
 * The typed description of the CLI: every command, argument and option with its help text.
 * Commander's help AND docs/cli/*.md are generated from it (scripts/gen-cli-docs.ts), so the
 * two never disagree.
 */

export interface ArgumentSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
}

export interface OptionSpec {
  /** commander flags: '--key <field>', '--skip-invalid', '-o, --out <file>' */
  readonly flags: string;
  readonly description: string;
  /** the default value passed to the command */
  readonly defaultValue?: string | number | boolean;
  /** how the default is shown in help, when it is not the value itself */
  readonly defaultDescription?: string;
  /** parse the value as a positive integer (a bad value is a usage error) */
  readonly positiveInt?: boolean;
  /** parse the value as a whole number, 0 included (a bad value is a usage error) */
  readonly wholeNumber?: boolean;
}

export interface ExampleSpec {
  readonly command: string;
  readonly comment?: string;
}

export interface CommandSpec {
  readonly name: string;
  /** one line, shown in the command list */
  readonly summary: string;
  /** paragraphs shown in the command's help and page */
  readonly details?: readonly string[];
  readonly arguments: readonly ArgumentSpec[];
  readonly options: readonly OptionSpec[];
  readonly examples: readonly ExampleSpec[];
  /**
   * Global options this command refuses (a usage error, exit 2, before it runs), and why; help
   * and docs/cli say so instead of "global options apply"
   */
  readonly refusesGlobals?: { readonly options: readonly RefusableGlobal[]; readonly why: string };
}

/** The global options a command may refuse (GlobalOptions' keys). */
export type RefusableGlobal = 'store' | 'config' | 'migrations' | 'actor';

export const PROGRAM_NAME = 'switchyard';

export const PROGRAM_SUMMARY =
  'Change the shape of live NoSQL data without downtime: import, export, migrate, verify, roll back.';

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--store <url>',
    description:
      'the store URL (memory:, sqlite:PATH, sqlite::memory:, redis://..., ...); passwords are never printed',
    defaultDescription: '$SWITCHYARD_STORE, then the config file, then sqlite:./switchyard.db',
  },
  {
    flags: '--config <file>',
    description: 'the config file',
    defaultDescription: 'switchyard.config.{ts,mts,js,mjs,json} in the working directory',
  },
  {
    flags: '--migrations <dir>',
    description: 'the migrations directory',
    defaultDescription: "the config's migrationsDir, else ./migrations",
  },
  {
    flags: '--actor <name>',
    description: 'who is acting, as recorded in the audit log',
    defaultDescription: '$SWITCHYARD_ACTOR, else the OS user',
  },
  { flags: '--json', description: 'print results as JSON on stdout' },
  {
    flags: '-q, --quiet',
    description: 'print no progress and no summary (errors still go to stderr)',
  },
];

export const EXIT_CODES: readonly { code: number; meaning: string }[] = [
  { code: 0, meaning: 'success' },
  {
    code: 1,
    meaning:
      'a check failed (verify found drift, check found a breaking change, the audit chain is broken)',
  },
  {
    code: 2,
    meaning:
      'bad input: a flag, an argument, the config, a store URL, a data file; nothing was changed',
  },
  { code: 3, meaning: 'the store or the runtime failed' },
];

export const ENVIRONMENT: readonly { name: string; meaning: string }[] = [
  { name: 'SWITCHYARD_STORE', meaning: 'the store URL when --store is not given' },
  {
    name: 'SWITCHYARD_ACTOR',
    meaning: 'who is acting, for the audit log, when --actor is not given',
  },
];

/**
 * Which global options a command takes, in one sentence, the same in `--help` and docs/cli:
 * `(code)` formats a flag (backticks in the docs).
 */
export function globalOptionsSentence(spec: CommandSpec, code: (flag: string) => string): string {
  const refused = spec.refusesGlobals?.options ?? [];
  const flagOf = (o: OptionSpec) => /--[a-z-]+/.exec(o.flags)![0];
  const taken = GLOBAL_OPTIONS.map(flagOf).filter((f) => !refused.some((r) => `--${r}` === f));
  const list = (flags: readonly string[]) =>
    flags.length > 1
      ? `${flags.slice(0, -1).map(code).join(', ')} and ${code(flags.at(-1)!)}`
      : code(flags[0]!);
  if (refused.length === 0) return `Global options (${list(taken)}) apply too`;
  return `Global options ${list(taken)} apply too; ${list(refused.map((r) => `--${r}`))} are refused (exit 2): ${spec.refusesGlobals!.why}`;
}
