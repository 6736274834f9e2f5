/**
 * A one-line progress display for a terminal: rewrites the line in place at most every 100 ms,
 * and clears it when done. Plain counts, no dependency. Disabled, it does nothing.
 */
import type { Writable } from 'node:stream';
import type { CliContext } from './cli-context.js';

const INTERVAL_MS = 100;

export class Progress {
  readonly #out: Writable;
  readonly #enabled: boolean;
  #last = 0;
  #shown = false;

  constructor(out: Writable, enabled: boolean) {
    this.#out = out;
    this.#enabled = enabled;
  }

  /** Show `text`, unless the last update was under 100 ms ago (`force` shows it anyway). */
  update(text: string | (() => string), force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < INTERVAL_MS) return;
    this.#last = now;
    this.#shown = true;
    this.#out.write(`\r\x1b[K${typeof text === 'function' ? text() : text}`);
  }

  /** Clear the line. */
  done(): void {
    if (!this.#enabled || !this.#shown) return;
    this.#out.write('\r\x1b[K');
    this.#shown = false;
  }
}

/** `12,345 docs, 4,321/s` */
export function formatRate(done: number, startedAt: number, now = Date.now()): string {
  const seconds = Math.max((now - startedAt) / 1000, 0.001);
  return `${done.toLocaleString('en-US')} docs, ${Math.round(done / seconds).toLocaleString('en-US')}/s`;
}

/** A long job's last word: its `done` JSON line (with its progress) under --json, else its message. */
export function reportDone(
  ctx: CliContext,
  result: { outcome: string; message: string; progress: object; retryDead?: object },
): void {
  if (ctx.json)
    ctx.out(
      JSON.stringify({
        event: 'done',
        outcome: result.outcome,
        message: result.message,
        ...result.progress,
        ...(result.retryDead !== undefined ? { retryDead: result.retryDead } : {}),
      }),
    );
  else ctx.info(result.message);
}
