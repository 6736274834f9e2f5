/**
 * What the CLI shows of a job on the runner (backfill, verify, rollback), the same for each: a
 * progress bar on a terminal (its line from the job's own `format`), JSON lines with --json
 * (progress, start, paused, resumed, lease-lost, restart; not for a command whose --json output
 * is one document), and log lines (pino, on stderr, kept
 * out of the progress line) for what a person should know: pauses, lost leases, retries, a
 * partition walked again, dead letters, guard trips.
 */
import type { Logger } from 'pino';
import type { VerifySides } from '../engine/jobs/verify-in-place.js';
import type { JobProgress, RunnerEvent } from '../engine/runner/job.js';
import { createLogger } from '../observe/logger.js';
import type { CliContext } from './cli-context.js';
import { Progress } from './progress.js';
import { waitWords } from './store-calls.js';

/** Events that are JSON lines on stdout with --json. */
const JSON_EVENTS: ReadonlySet<string> = new Set([
  'progress',
  'start',
  'paused',
  'resumed',
  'lease-lost',
  'restart',
]);

export interface JobDisplay {
  bar: Progress;
  logger: Logger;
  /** attach as (part of) the job's onEvent */
  onEvent: (e: RunnerEvent) => void;
}

export function jobDisplay<P extends JobProgress>(
  ctx: CliContext,
  job: string,
  format: (p: P) => string,
  options: { jsonLines?: boolean } = {},
): JobDisplay {
  // a command whose --json output is one document (verify's report) prints no event lines
  const jsonLines = ctx.json && options.jsonLines !== false;
  const bar = new Progress(ctx.io.stderr, ctx.showProgress && !ctx.json);
  // log lines must not land inside the progress line: clear it first (the next update redraws)
  const destination = { write: (line: string) => (bar.done(), ctx.io.stderr.write(line)) };
  const logger = createLogger({ quiet: ctx.quiet, destination });
  const onEvent = (e: RunnerEvent) => {
    if (jsonLines && JSON_EVENTS.has(e.type))
      ctx.out(JSON.stringify({ event: e.type, ...(e.type === 'progress' ? e.progress : e) }));
    switch (e.type) {
      case 'progress':
        bar.update(format(e.progress as P), true);
        return;
      case 'start':
        logger.info(
          { migration: e.migration, worker: e.worker, partitions: e.partitions, total: e.total },
          `${job} started`,
        );
        return;
      case 'paused':
        logger.warn({ reason: e.reason }, 'paused');
        return;
      case 'resumed':
        logger.info('resumed');
        return;
      case 'lease-lost':
        logger.warn(
          { partition: e.partition },
          'lease lost; another worker took over the partition',
        );
        return;
      case 'retry':
        logger.warn(
          { error: e.error, attempt: e.attempt, delayMs: e.delayMs },
          `store call failed; ${waitWords(e)}`,
        );
        return;
      case 'restart':
        logger.warn(
          { partition: e.partition, reason: e.reason },
          'scan cursor lost its meaning (the server restarted?); walking the partition again from its beginning',
        );
        return;
      case 'dead-letter':
        logger.warn({ key: e.key, error: e.error }, 'dead letter');
        return;
      case 'guard-trip':
        logger.warn({ guard: e.trip.guard, message: e.trip.message }, 'guard tripped');
        return;
      case 'threshold':
        logThreshold(logger, e);
        return;
      default:
        return;
    }
  };
  return { bar, logger, onEvent };
}

/** A threshold that fired, as a warning line (every job, catch-up too). */
export function logThreshold(logger: Logger, e: Extract<RunnerEvent, { type: 'threshold' }>): void {
  logger.warn(
    {
      metric: e.firing.metric,
      value: e.firing.value,
      above: e.firing.above,
      action: e.firing.action,
      ...(e.rate !== undefined ? { rate: e.rate } : {}),
      ...(e.rollbackCommand !== undefined ? { rollback: e.rollbackCommand } : {}),
    },
    `threshold: ${e.firing.message}`,
  );
}

/** `[#####...] 41.2% 4,120/10,000 812/s ETA 7s` */
/**
 * A job's progress line: bar, percent, done/total, rate, ETA. `counts` replaces done/total and
 * `unit` names what the rate counts (a verify counts documents and journal entries apart).
 */
export function progressLine(p: JobProgress, counts?: string, unit = ''): string {
  const pct = p.total > 0 ? Math.min(100, (100 * p.done) / p.total) : 100;
  const width = 24;
  const filled = Math.round((pct / 100) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const eta = p.etaSeconds === null ? '?' : formatSeconds(p.etaSeconds);
  const done = counts ?? `${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')}`;
  return `${bar} ${pct.toFixed(1)}% ${done} ${p.rate.toLocaleString('en-US')}${unit}/s ETA ${eta}${p.paused ? ' | PAUSED' : ''}`;
}

/**
 * A verify's two sides in words (`documents 50,000/100,000, journal entries 0/100,000`), from its
 * published progress; undefined when it has none (an older worker's).
 */
export function verifySidesText(p: Record<string, unknown>): string | undefined {
  const sides = p.sides as VerifySides | undefined;
  if (sides?.documents === undefined || sides.journal === undefined) return undefined;
  const of = (x: { done: number; total: number }) =>
    `${x.done.toLocaleString('en-US')}/${x.total.toLocaleString('en-US')}`;
  return `documents ${of(sides.documents)}, journal entries ${of(sides.journal)}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
