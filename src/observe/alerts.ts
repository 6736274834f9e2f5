/**
 * Alerts: a JSON event POSTed to a webhook (`--alert-webhook URL`) when something an operator
 * must look at happens — a guard trips, a worker dies, dead letters pass a threshold, a gate
 * fails, verify finds drift, a rollback ends, a job fails.
 *
 *   const sink = new AlertSink({ url: parseWebhookUrl(flag), source: { command: 'backfill' } });
 *   sink.send({ type: 'gate-failed', migration: id, message: 'mismatch rate 2.1% over 1%' });
 *   await sink.close();   // flush: waits (bounded) for what is queued
 *
 * Rules:
 * - `send` never blocks and never throws: it queues the event and returns. One background loop
 *   posts the queue in order; each attempt has a timeout (default 5 s); a network error, a
 *   timeout, 408, 429 or 5xx is retried (default 3 retries, back-off 0.5 s, 1 s, 2 s with jitter);
 *   any other answer is final. A failure goes to `onError` and is counted; the job goes on.
 * - the queue is bounded (default 100): past it the oldest event is dropped and counted;
 * - `close(deadlineMs)` waits for the queue to drain, at most `deadlineMs` (default 10 s), then
 *   aborts what is in flight: a receiver that is down or hangs delays the end of a command by
 *   the deadline at most, and never changes its exit code;
 * - no secrets: every string of the body, at any depth, is redacted (`redactDeep`:
 *   passwords in URLs and in password/token query parameters become `***`); events carry counts and names, never document
 *   contents or store URLs. The webhook URL itself is never printed (only its origin): webhook
 *   paths often hold a token. `user:pass@` in the webhook URL is sent as a Basic Authorization
 *   header (fetch refuses credentials in URLs);
 * - the URL must be http: or https:; anything else is a UsageError naming the flag (exit 2).
 */
import os from 'node:os';
import { UsageError } from '../core/errors.js';
import { redactSecrets, redactUrl } from '../store/store-url.js';
import { redactDeep } from './redact.js';

/** What happened. Receivers switch on it; new types may be added, existing ones keep their meaning. */
export const AlertType = {
  /** a backfill guard tripped: the migration is paused (or being rolled back) */
  guardTripped: 'guard-tripped',
  /** a worker's lease expired (or its process is gone) and another worker took its partition over */
  workerDied: 'worker-died',
  /** the dead letters of a migration reached the --alert-dead-letters threshold */
  deadLetters: 'dead-letters',
  /** a side-by-side gate failed (sent by `advance`) */
  gateFailed: 'gate-failed',
  /** verify found documents that are not what the migration should have produced */
  verifyDrift: 'verify-drift',
  /** a rollback finished (conflicts > 0: the application's documents were kept for some keys) */
  rolledBack: 'rolled-back',
  /** a contingency threshold fired (alert, throttle: warning; pause, rollback: critical) */
  threshold: 'threshold',
  /** a long-running command failed (store or runtime error, exit 3) */
  jobFailed: 'job-failed',
} as const;
export type AlertType = (typeof AlertType)[keyof typeof AlertType];

export type AlertSeverity = 'critical' | 'warning' | 'info';

/** What a caller gives `send`. */
export interface AlertInput {
  type: AlertType | (string & {});
  /** the migration id, or null when the job failed before it knew one */
  migration: string | null;
  /** one line for a human */
  message: string;
  details?: Record<string, unknown>;
  /** default: by type (critical for guard-tripped, gate-failed, verify-drift, job-failed) */
  severity?: AlertSeverity;
  /** ISO time; default now */
  at?: string;
}

/** Who sends: the same for every event of one sink. */
export interface AlertSource {
  /** the command: backfill, verify, rollback, advance, ... */
  command: string;
  /** host:pid or the --worker-id */
  worker?: string;
  actor?: string;
}

/** The JSON body POSTed for each event. */
export interface AlertEvent {
  type: string;
  severity: AlertSeverity;
  migration: string | null;
  at: string;
  message: string;
  details: Record<string, unknown>;
  source: AlertSource & { host: string; pid: number };
}

export interface AlertSinkOptions {
  /** from parseWebhookUrl */
  url: URL;
  source: AlertSource;
  /** per attempt, ms (default 5000) */
  timeoutMs?: number;
  /** retries after the first attempt (default 3) */
  retries?: number;
  /** the first back-off, ms; doubled each retry (default 500) */
  backoffMs?: number;
  /** events waiting at most (default 100); past it the oldest is dropped */
  maxQueue?: number;
  /** a delivery that failed for good (after the retries), or an event dropped */
  onError?: (err: Error, event: AlertEvent) => void;
}

export interface AlertStats {
  delivered: number;
  failed: number;
  dropped: number;
}

export const DEFAULT_ALERT_TIMEOUT_MS = 5000;
export const DEFAULT_ALERT_RETRIES = 3;
export const DEFAULT_ALERT_BACKOFF_MS = 500;
export const DEFAULT_ALERT_CLOSE_MS = 10_000;
const DEFAULT_MAX_QUEUE = 100;

const CRITICAL: readonly string[] = [
  AlertType.guardTripped,
  AlertType.gateFailed,
  AlertType.verifyDrift,
  AlertType.jobFailed,
];

/**
 * Check a webhook URL: http: or https:, a host. Throws a UsageError naming `flag` (exit 2).
 * The message shows only the origin: a webhook path often holds a token.
 */
export function parseWebhookUrl(raw: string, flag = '--alert-webhook'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `${flag} must be an http:// or https:// URL, got '${redactUrl(raw).slice(0, 80)}'`,
      { field: flag },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`${flag} must be an http:// or https:// URL, got a ${url.protocol} URL`, {
      field: flag,
    });
  if (url.hostname === '') throw new UsageError(`${flag} names no host`, { field: flag });
  return url;
}

/** The webhook as it may be printed: its origin only. */
export function describeWebhook(url: URL): string {
  return `${url.protocol}//${url.host}/...`;
}

class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export class AlertSink {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #source: AlertEvent['source'];
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #maxQueue: number;
  readonly #onError: ((err: Error, event: AlertEvent) => void) | undefined;
  readonly #queue: AlertEvent[] = [];
  /** aborts what is in flight and the back-off waits when close() runs out of time */
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #closed = false;
  readonly #stats: AlertStats = { delivered: 0, failed: 0, dropped: 0 };

  constructor(options: AlertSinkOptions) {
    const url = new URL(options.url);
    this.#headers = {
      'content-type': 'application/json',
      'user-agent': 'switchyard-alerts/1',
    };
    if (url.username !== '' || url.password !== '') {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      this.#headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    this.#url = url.toString();
    this.#source = { ...options.source, host: os.hostname(), pid: process.pid };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ALERT_TIMEOUT_MS;
    this.#retries = options.retries ?? DEFAULT_ALERT_RETRIES;
    this.#backoffMs = options.backoffMs ?? DEFAULT_ALERT_BACKOFF_MS;
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.#onError = options.onError;
  }

  get stats(): AlertStats {
    return { ...this.#stats };
  }

  /** Queue an event; returns at once. Ignored after close(). */
  send(input: AlertInput): void {
    if (this.#closed) return;
    const event: AlertEvent = {
      type: input.type,
      severity: input.severity ?? (CRITICAL.includes(input.type) ? 'critical' : 'warning'),
      migration: input.migration,
      at: input.at ?? new Date().toISOString(),
      message: input.message,
      details: input.details ?? {},
      source: this.#source,
    };
    this.#queue.push(event);
    while (this.#queue.length > this.#maxQueue) {
      const dropped = this.#queue.shift()!;
      this.#stats.dropped += 1;
      this.#report(new Error('alert queue full: event dropped'), dropped);
    }
    this.#kick();
  }

  /** Start the delivery loop unless it runs. */
  #kick(): void {
    if (this.#loop !== undefined) return;
    this.#loop = this.#drain().finally(() => {
      this.#loop = undefined;
      // an event queued while the loop was finishing
      if (this.#queue.length > 0 && !this.#abort.signal.aborted) this.#kick();
    });
  }

  /**
   * Flush: wait for the queued events to be delivered (or to fail), at most `deadlineMs`; then
   * abort what is left. Never throws. Returns what happened over the sink's life.
   */
  async close(deadlineMs = DEFAULT_ALERT_CLOSE_MS): Promise<AlertStats> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    // a ref'ed timer: while close() waits, the process stays alive (back-off timers are unref'ed,
    // and a pending promise alone would let node exit, with exit code 0, mid-flush)
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    while (this.#loop !== undefined) {
      const loop = this.#loop;
      const finished = await Promise.race([loop.then(() => true), deadline.then(() => false)]);
      if (!finished) break;
    }
    clearTimeout(timer);
    if (this.#loop !== undefined || this.#queue.length > 0) {
      this.#abort.abort();
      await this.#loop?.catch(() => undefined);
      for (const left of this.#queue.splice(0)) {
        this.#stats.failed += 1;
        this.#report(new Error('not delivered before the command ended'), left);
      }
    }
    return this.stats;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const event = this.#queue.shift();
      if (event === undefined) return;
      if (this.#abort.signal.aborted) {
        this.#stats.failed += 1;
        this.#report(new Error('not delivered before the command ended'), event);
        continue;
      }
      try {
        await this.#deliver(event);
        this.#stats.delivered += 1;
      } catch (err) {
        this.#stats.failed += 1;
        this.#report(err as Error, event);
      }
    }
  }

  async #deliver(event: AlertEvent): Promise<void> {
    // redact the whole body: whatever a message or a detail carries, no password leaves
    const body = JSON.stringify(redactDeep(event));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#post(body);
        return;
      } catch (err) {
        const retryable = !(err instanceof DeliveryError) || err.retryable;
        if (!retryable || attempt >= this.#retries || this.#abort.signal.aborted)
          throw new Error(
            `${(err as Error).message}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`,
          );
        const delay = this.#backoffMs * 2 ** attempt * (0.75 + Math.random() / 2);
        await abortableSleep(delay, this.#abort.signal);
      }
    }
  }

  async #post(body: string): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#abort.signal]);
    let res: Response;
    try {
      res = await fetch(this.#url, { method: 'POST', headers: this.#headers, body, signal });
    } catch (err) {
      if (this.#abort.signal.aborted)
        throw new DeliveryError('not delivered before the command ended', false);
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${this.#timeoutMs} ms`
          : (e.cause?.code ?? e.message);
      throw new DeliveryError(redactSecrets(why), true);
    }
    // read the answer so the connection can be reused, but keep nothing of it
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return;
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new DeliveryError(`the receiver answered ${res.status}`, retryable);
  }

  #report(err: Error, event: AlertEvent): void {
    try {
      this.#onError?.(err, event);
    } catch {
      // a failing error handler must not stop the loop
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
