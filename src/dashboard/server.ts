/**
 * The dashboard's HTTP server (node:http, no framework): the page, the read API, the event
 * stream, the controls and /metrics, for one opened project.
 *
 *   GET  /, /assets/*                    the page (dist/web), no token
 *   GET  /api/snapshot                   the snapshot (token)
 *   GET  /api/events                     server-sent events: history, snapshot, problem (token)
 *   POST /api/migrations/:id/:action     pause | resume | throttle | stage | rollback
 *                                        (token in the header, same origin, JSON with a reason)
 *   GET  /metrics                        Prometheus text; no token when bound to loopback
 *
 * Checks, in order, before a request reaches anything that reads or writes state (auth.ts has
 * the rules): the Host header (421), the method (405), then for the API the origin of
 * state-changing requests (403), the token (401), the content type (415) and the body size
 * (413). A refused request changes nothing and is not in the audit log (nothing happened); the
 * refusal is logged on the dashboard's stderr. Every JSON answer goes through `toSafeJson`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../core/errors.js';
import type { EngineContext } from '../engine/context.js';
import type { Project } from '../project.js';
import { redactSecrets } from '../store/store-url.js';
import { renderMetrics } from './adapters.js';
import {
  crossOriginReason,
  generateToken,
  hostAllowed,
  isLoopbackHost,
  requestToken,
  tokenMatches,
} from './auth.js';
import { isControlAction, runControl } from './controls.js';
import { EventStreams } from './event-stream.js';
import { Jobs } from './jobs.js';
import { MigrationFiles } from './migration-files.js';
import { toSafeJson } from './safe-json.js';
import { DashboardState } from './snapshot.js';
import { CONTENT_SECURITY_POLICY, DEFAULT_WEB_ROOT, serveStatic } from './static-files.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8420;
export const DEFAULT_INTERVAL_MS = 1000;
const MAX_BODY_BYTES = 16 * 1024;
/** how much of a refused body is read (and dropped) before the connection is closed */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

export interface DashboardOptions {
  project: Project;
  /** who the controls act as, for the audit log (e.g. dashboard:alice@host) */
  actor: string;
  /** default 127.0.0.1; a non-loopback host needs `token` */
  host?: string;
  /** default 8420; 0 picks a free port */
  port?: number;
  /** default: a random one */
  token?: string;
  /** how often the state is read while a page is open (ms, default 1000) */
  intervalMs?: number;
  /** the built page (default: dist/web of this package) */
  webRoot?: string;
  /** refusals and failures, one line each (default: nowhere) */
  log?: (line: string) => void;
}

export interface DashboardServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly origin: string;
  /** the URL to open: the origin with the token in the fragment (never sent to the server) */
  readonly url: string;
  readonly token: string;
  /** whether the token was generated (and so should be shown to the operator) */
  readonly generatedToken: boolean;
  /** stop listening, end the event streams, stop running jobs (they resume later) */
  close(): Promise<void>;
}

/** The dashboard refuses to start: bad options. */
export class DashboardOptionsError extends Error {}

export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  const host = options.host ?? DEFAULT_HOST;
  const loopback = isLoopbackHost(host);
  if (!loopback && options.token === undefined)
    throw new DashboardOptionsError(
      `${host} is not a loopback address: binding it needs a token (anyone who can reach the port could otherwise read the state and press the controls)`,
    );
  const token = options.token ?? generateToken();
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const log = options.log ?? (() => undefined);
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  const { project, actor } = options;
  const jobs = new Jobs();
  const files = new MigrationFiles(project.migrationsDir, project.versionField);
  const state = new DashboardState({ project, files, actor, jobs, intervalMs });
  const streams = new EventStreams(state, intervalMs);
  const metricsCtx: EngineContext = {
    store: project.store,
    stateStore: project.stateStore,
    catalog: project.catalog,
    audit: project.audit,
    actor,
  };

  let port = options.port ?? DEFAULT_PORT;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`dashboard: ${req.method} ${req.url}: ${redactSecrets(errorMessage(err))}`);
      if (!res.headersSent)
        sendJson(res, 500, { ok: false, status: 500, message: errorMessage(err) });
      else res.end();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, why: string) => {
    log(`dashboard: refused ${req.method} ${pathOf(req)} from ${req.socket.remoteAddress}: ${why}`);
    sendJson(res, status, { ok: false, status, message: why });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setCommonHeaders(res);
    if (!hostAllowed(req, loopback, port))
      return refuse(req, res, 421, `Host ${req.headers.host ?? '(none)'} is not this dashboard`);
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const method = req.method ?? 'GET';
    const p = url.pathname;

    if (p === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      // loopback: scrapers read it without a token (read-only counters); elsewhere the token
      if (!loopback && !tokenMatches(requestToken(req, url, false), token))
        return refuse(req, res, 401, 'a token is required (Authorization: Bearer <token>)');
      return metrics(res, method === 'HEAD');
    }

    if (p.startsWith('/api/')) {
      const control = /^\/api\/migrations\/([^/]+)\/([a-z-]+)$/.exec(p);
      if (control !== null) {
        if (method !== 'POST') return methodNotAllowed(res, 'POST');
        const cross = crossOriginReason(req);
        if (cross !== null) return refuse(req, res, 403, `cross-origin request refused: ${cross}`);
        if (!tokenMatches(requestToken(req, url, false), token))
          return refuse(req, res, 401, 'a token is required (Authorization: Bearer <token>)');
        if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
          return refuse(req, res, 415, 'the body must be application/json');
        const action = control[2]!;
        if (!isControlAction(action))
          return sendJson(res, 404, { ok: false, status: 404, message: `no control '${action}'` });
        let body: unknown;
        try {
          body = JSON.parse(await readBody(req));
        } catch (err) {
          const tooBig = err instanceof BodyTooLargeError;
          return refuse(
            req,
            res,
            tooBig ? 413 : 400,
            tooBig ? err.message : 'the body is not JSON',
          );
        }
        let id: string;
        try {
          id = decodeURIComponent(control[1]!);
        } catch {
          return sendJson(res, 400, { ok: false, status: 400, message: 'bad migration id' });
        }
        const result = await runControl({ project, files, actor, jobs }, id, action, body);
        log(`dashboard: ${action} ${id} by ${actor}: ${result.status} ${result.message}`);
        sendJson(res, result.status, result);
        void streams.refresh().catch(() => undefined);
        return;
      }
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      if (!tokenMatches(requestToken(req, url, true), token))
        return refuse(req, res, 401, 'a token is required (Authorization: Bearer <token>)');
      if (p === '/api/snapshot') return sendJson(res, 200, await streams.current());
      if (p === '/api/events') {
        if (method !== 'GET') return methodNotAllowed(res, 'GET');
        if (!streams.add(res)) return refuse(req, res, 503, 'too many open event streams');
        return;
      }
      return sendJson(res, 404, { ok: false, status: 404, message: `no ${p}` });
    }

    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
    if (await serveStatic(webRoot, p, res, method === 'HEAD')) return;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  async function metrics(res: ServerResponse, head: boolean): Promise<void> {
    try {
      const { body, contentType } = await renderMetrics(metricsCtx);
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(head ? undefined : redactSecrets(body));
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(head ? undefined : `# ${redactSecrets(errorMessage(err))}\n`);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const origin = `http://${shownHost}:${port}`;
  // a page served over a wildcard address is opened through a real name: show loopback for it
  const openOrigin = host === '0.0.0.0' || host === '::' ? `http://127.0.0.1:${port}` : origin;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    origin,
    url: `${openOrigin}/#token=${encodeURIComponent(token)}`,
    token,
    generatedToken: options.token === undefined,
    close() {
      closing ??= (async () => {
        streams.close();
        await jobs.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function pathOf(req: IncomingMessage): string {
  // the query may hold a token: never log it
  return (req.url ?? '/').replace(/\?.*$/, '');
}

function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = toSafeJson(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  sendJson(res, 405, { ok: false, status: 405, message: `method not allowed (${allow})` });
}

class BodyTooLargeError extends Error {}

/**
 * The body of a control request, at most MAX_BODY_BYTES. A larger one (said by Content-Length,
 * or found while reading) is refused at once (the caller answers 413) but still read and
 * dropped, up to MAX_DRAIN_BYTES: a server that stops reading while the client still sends
 * makes the client's side see a reset connection instead of the answer. Beyond that the
 * connection is closed.
 */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const refuse = () => {
      refused = true;
      chunks.length = 0;
      reject(new BodyTooLargeError(`the body is larger than ${MAX_BODY_BYTES} bytes`));
    };
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) refuse();
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (refused) {
        if (size > MAX_DRAIN_BYTES) req.socket.destroy();
        return;
      }
      if (size > MAX_BODY_BYTES) return refuse();
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
