/**
 * `--log-changes <file>` and `--log-changes-sample <n>` (backfill): the option specs, and the
 * change log's logger, writing JSON lines to the file (appended; observe/change-log.ts).
 *
 * Rules: the file is opened before anything runs (one that cannot be opened is exit 2, naming the
 * flag, nothing changed); the lines are written synchronously, so a killed run loses none it
 * logged; stderr is never used (it carries messages, never data, and the lines hold documents).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { UsageError } from '../core/errors.js';
import { DEFAULT_CHANGE_SAMPLE } from '../observe/change-log.js';
import { createLogger } from '../observe/logger.js';
import type { CliContext } from './cli-context.js';
import type { OptionSpec } from './cli-spec.js';

export const LOG_CHANGES_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--log-changes <file>',
    description:
      'append a JSON line per batch to this file: the field paths changed and their counts, and the key and JSON Patch of a few documents (this logs document content)',
  },
  {
    flags: '--log-changes-sample <n>',
    description: `with --log-changes: documents per batch whose key and JSON Patch are logged (default ${DEFAULT_CHANGE_SAMPLE}; 0: counts only)`,
    wholeNumber: true,
  },
];

export interface LogChangesCliOptions {
  logChanges?: string;
  logChangesSample?: number;
}

/** The change log's logger and sample, or undefined without --log-changes; closes with `close`. */
export function openChangeLog(
  ctx: CliContext,
  o: LogChangesCliOptions,
): { logger: Logger; sample: number; close(): void } | undefined {
  if (o.logChanges === undefined) {
    if (o.logChangesSample !== undefined)
      throw new UsageError('--log-changes-sample needs --log-changes <file>', {
        field: '--log-changes-sample',
      });
    return undefined;
  }
  const file = path.resolve(ctx.io.cwd, o.logChanges);
  let fd: number;
  try {
    fd = fs.openSync(file, 'a');
  } catch (err) {
    throw new UsageError(
      `--log-changes: cannot open ${file} for writing (${(err as Error).message}); give a writable file path`,
      { field: '--log-changes' },
    );
  }
  const logger = createLogger({ destination: { write: (line: string) => fs.writeSync(fd, line) } });
  return {
    logger,
    sample: o.logChangesSample ?? DEFAULT_CHANGE_SAMPLE,
    close: () => fs.closeSync(fd),
  };
}
