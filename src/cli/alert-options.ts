/**
 * `--alert-webhook` (and `--alert-dead-letters`) for the long-running commands: the option
 * specs, and the sink a command opens before it starts and flushes when it ends.
 *
 * Rules: the URL is checked before anything runs (a bad one is exit 2, naming the flag);
 * an alert that cannot be delivered is one warning line on stderr (the webhook shown by its
 * origin only) and never changes the command's exit code; close() waits for the queued alerts
 * at most DEFAULT_ALERT_CLOSE_MS.
 */
import os from 'node:os';
import { UsageError } from '../core/errors.js';
import { AlertSink, describeWebhook, parseWebhookUrl, type AlertInput } from '../observe/alerts.js';
import { jobFailedAlert } from '../observe/job-alerts.js';
import { resolveActor } from '../state/actor.js';
import type { CliContext } from './cli-context.js';
import type { OptionSpec } from './cli-spec.js';

/** `--alert-webhook`, saying what this command alerts about */
export function alertWebhookOption(when: string): OptionSpec {
  return {
    flags: '--alert-webhook <url>',
    description: `POST a JSON event to this http(s) URL when ${when}, or the job fails (docs/guides/alerts.md); a receiver that is down never fails the command`,
  };
}

export const ALERT_DEAD_LETTERS_OPTION: OptionSpec = {
  flags: '--alert-dead-letters <n>',
  description: 'with --alert-webhook: alert once when the dead letters reach n',
  positiveInt: true,
};

export interface AlertCliOptions {
  alertWebhook?: string;
  alertDeadLetters?: number;
}

/** The alerts of one command run: a no-op without --alert-webhook. */
export class CommandAlerts {
  readonly sink: AlertSink | undefined;

  constructor(sink: AlertSink | undefined) {
    this.sink = sink;
  }

  send(alert: AlertInput | undefined): void {
    if (alert !== undefined) this.sink?.send(alert);
  }

  /** A command failed: alert unless it was bad input. */
  failed(err: unknown, command: string, migration: string | null): void {
    this.send(jobFailedAlert(err, command, migration));
  }

  /** Flush (bounded); never throws. */
  async close(): Promise<void> {
    await this.sink?.close();
  }
}

/** Check the options and open the sink (before the command changes anything). */
export function openCommandAlerts(
  ctx: CliContext,
  command: string,
  options: AlertCliOptions & { workerId?: string },
): CommandAlerts {
  if (options.alertWebhook === undefined) {
    if (options.alertDeadLetters !== undefined)
      throw new UsageError('--alert-dead-letters needs --alert-webhook (where to send the alert)', {
        field: '--alert-dead-letters',
      });
    return new CommandAlerts(undefined);
  }
  const url = parseWebhookUrl(options.alertWebhook, '--alert-webhook');
  const where = describeWebhook(url);
  const sink = new AlertSink({
    url,
    source: {
      command,
      worker: options.workerId ?? `${os.hostname()}:${process.pid}`,
      actor: resolveActor(ctx.options.actor),
    },
    onError: (err, event) =>
      ctx.err(`warning: alert ${event.type} to ${where} not delivered: ${err.message}`),
  });
  return new CommandAlerts(sink);
}
