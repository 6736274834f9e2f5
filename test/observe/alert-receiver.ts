/** A webhook receiver for tests: an HTTP server on 127.0.0.1 (a free port) that records requests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AlertEvent } from '../../src/observe/alerts.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** the bodies of the requests answered 2xx, parsed */
  readonly events: AlertEvent[];
  /** wait until an event matches (generous default timeout) */
  waitFor(pred: (e: AlertEvent) => boolean, timeoutMs?: number): Promise<AlertEvent>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** the status to answer the n-th request (0-based) with; default 204 */
  status?: (n: number) => number;
  /** never answer (until closed) */
  hang?: boolean;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const events: AlertEvent[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = options.status?.(requests.length) ?? 204;
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        status,
      });
      if (options.hang === true) return;
      if (status >= 200 && status < 300) events.push(JSON.parse(body) as AlertEvent);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status >= 400 ? 'no' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    events,
    async waitFor(pred, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(pred);
        if (found !== undefined) return found;
        if (Date.now() > until)
          throw new Error(
            `no matching alert within ${timeoutMs} ms; got: ${events.map((e) => e.type).join(', ')}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
