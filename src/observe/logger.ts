/**
 * Logs: pino, JSON lines on stderr (or a given stream). Every string that could carry a
 * connection string passes through secret redaction before it is written.
 */
import { pino, type Logger } from 'pino';
import { redactDeep } from './redact.js';

export interface LoggerOptions {
  quiet?: boolean;
  level?: string;
  /** where log lines go (default: stderr); anything with write(line) */
  destination?: { write(line: string): unknown };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level =
    options.quiet === true
      ? 'error'
      : (options.level ?? process.env.SWITCHYARD_LOG_LEVEL ?? 'info');
  return pino(
    {
      level,
      base: undefined,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => redactDeep(a));
          method.apply(this, clean as Parameters<typeof method>);
        },
      },
    },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination(2),
  );
}
