/**
 * Live updates by server-sent events. One timer for the whole server reads the state every
 * `intervalMs` while at least one page listens, and pushes the snapshot to every page; a page
 * opens one stream and never polls. So the load on the state store is one snapshot per interval,
 * however many pages are open.
 *
 * Rules:
 * - Polls never overlap: a snapshot slower than the interval delays the next one.
 * - A snapshot equal to the last one sent is not sent again; a comment line every
 *   `HEARTBEAT_MS` keeps idle connections (and proxies) alive.
 * - On connect a page gets `retry`, then `event: history` (the docs/s series so far), then the
 *   newest snapshot at once.
 * - `GET /api/snapshot` shares the same snapshot (one no older than the interval, or the one
 *   being built), so it cannot multiply the reads either.
 * - A failed snapshot is sent as `event: problem` (message redacted) and retried next interval.
 */
import type { ServerResponse } from 'node:http';
import { errorMessage } from '../core/errors.js';
import type { DashboardSnapshot, HistoryEvent } from './api-types.js';
import { toSafeJson } from './safe-json.js';

export const HEARTBEAT_MS = 15_000;
export const MAX_STREAMS = 64;

export interface SnapshotSource {
  snapshot(): Promise<DashboardSnapshot>;
  history(): HistoryEvent;
}

export class EventStreams {
  readonly #source: SnapshotSource;
  readonly #intervalMs: number;
  readonly #clients = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #inflight: Promise<DashboardSnapshot> | undefined;
  #last: { at: number; snapshot: DashboardSnapshot; body: string } | undefined;
  #lastSentBody = '';

  constructor(source: SnapshotSource, intervalMs: number) {
    this.#source = source;
    this.#intervalMs = intervalMs;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** The current snapshot: the last one if fresh, the one being built, or a new one. */
  async current(): Promise<DashboardSnapshot> {
    if (this.#last !== undefined && Date.now() - this.#last.at < this.#intervalMs)
      return this.#last.snapshot;
    return this.#build();
  }

  #build(): Promise<DashboardSnapshot> {
    this.#inflight ??= this.#source
      .snapshot()
      .then((snapshot) => {
        // the comparison ignores the time it was made
        const body = toSafeJson({ ...snapshot, generatedAt: '' });
        this.#last = { at: Date.now(), snapshot, body };
        return snapshot;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }

  /** Take over a response as an event stream; false when too many are open. */
  add(res: ServerResponse): boolean {
    if (this.#clients.size >= MAX_STREAMS) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\n\n`);
    res.write(event('history', toSafeJson(this.#source.history())));
    if (this.#last !== undefined) res.write(event('snapshot', toSafeJson(this.#last.snapshot)));
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopTimers();
    });
    this.#startTimers();
    if (this.#last === undefined) void this.#tick();
    return true;
  }

  #startTimers(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#tick(), this.#intervalMs);
    this.#heartbeat = setInterval(() => this.#broadcast(': keep-alive\n\n'), HEARTBEAT_MS);
  }

  #stopTimers(): void {
    clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
    this.#timer = undefined;
    this.#heartbeat = undefined;
  }

  #ticking = false;

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const snapshot = await this.#build();
      const body = this.#last!.body;
      if (body !== this.#lastSentBody) {
        this.#lastSentBody = body;
        this.#broadcast(event('snapshot', toSafeJson(snapshot)));
      }
    } catch (err) {
      this.#broadcast(event('problem', toSafeJson({ message: errorMessage(err) })));
    } finally {
      this.#ticking = false;
    }
  }

  /** Push a fresh snapshot now (after a control changed something). */
  async refresh(): Promise<void> {
    if (this.#clients.size === 0) return;
    this.#last = undefined;
    await this.#tick();
  }

  #broadcast(text: string): void {
    for (const res of this.#clients) res.write(text);
  }

  close(): void {
    this.#stopTimers();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}

function event(name: string, json: string): string {
  return `event: ${name}\ndata: ${json}\n\n`;
}
