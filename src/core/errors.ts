/**
 * One error class per condition, each with a stable `code` and the process exit code the CLI
 * uses for it. User-code failures are wrapped with the original error as `cause`.
 */

export const ExitCode = {
  ok: 0,
  /** a check failed: verify found drift, the audit chain is broken, ... */
  checkFailed: 1,
  /** bad input: a flag, a config, a migration file, a store URL, a data file */
  usage: 2,
  /** the store or the runtime failed */
  runtime: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface SwitchyardErrorOptions {
  cause?: unknown;
}

export class SwitchyardError extends Error {
  readonly code: string = 'E_SWITCHYARD';
  readonly exitCode: ExitCode = ExitCode.runtime;
  constructor(message: string, options?: SwitchyardErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in the user's input a problem is: a file, a line, a field. */
export interface InputLocation {
  file?: string;
  line?: number;
  field?: string;
}

/** Bad input given by the user. Nothing has been changed when this is thrown. */
export class InputError extends SwitchyardError {
  override readonly code: string = 'E_INPUT';
  override readonly exitCode: ExitCode = ExitCode.usage;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, where: InputLocation = {}, options?: SwitchyardErrorOptions) {
    super(formatLocated(message, where), options);
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}

/** A malformed store URL. The message never contains the URL's password. */
export class StoreUrlError extends InputError {
  override readonly code = 'E_STORE_URL';
}

/** A bad CLI flag or argument. */
export class UsageError extends InputError {
  override readonly code = 'E_USAGE';
}

/** The store failed (I/O, connection, unexpected response). */
export class StoreError extends SwitchyardError {
  override readonly code: string = 'E_STORE';
  override readonly exitCode: ExitCode = ExitCode.runtime;
}

/** A check did not pass (verify drift, audit chain broken). */
export class CheckFailedError extends SwitchyardError {
  override readonly code: string = 'E_CHECK_FAILED';
  override readonly exitCode: ExitCode = ExitCode.checkFailed;
}

function formatLocated(message: string, where: InputLocation): string {
  const parts: string[] = [];
  if (where.file !== undefined)
    parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
  else if (where.line !== undefined) parts.push(`line ${where.line}`);
  if (where.field !== undefined) parts.push(`field '${where.field}'`);
  return parts.length > 0 ? `${parts.join(', ')}: ${message}` : message;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
