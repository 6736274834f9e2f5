import os from 'node:os';
import { UsageError } from '../../core/errors.js';
import { isLoopbackHost, MIN_TOKEN_LENGTH } from '../../dashboard/auth.js';
import {
  DEFAULT_HOST,
  DEFAULT_INTERVAL_MS,
  DEFAULT_PORT,
  startDashboard,
} from '../../dashboard/server.js';
import { resolveActor } from '../../state/actor.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withInterrupt } from '../interrupt.js';
import { withProject } from '../open-project.js';

/** the token when --token is not given (keeps it out of `ps` and shell history) */
export const TOKEN_ENV = 'SWITCHYARD_DASHBOARD_TOKEN';
/** reading the state more often than this only loads the store */
const MIN_INTERVAL_MS = 100;

interface DashboardCliOptions {
  port: string;
  host: string;
  token?: string;
  interval: number;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535)
    throw new UsageError(`--port must be a port number from 0 to 65535, got '${value}'`, {
      field: '--port',
    });
  return n;
}

export const dashboardCommand = defineCommand<DashboardCliOptions>({
  spec: {
    name: 'dashboard',
    summary: 'a live web view of every migration, with controls (pause, rate, stages, rollback)',
    details: [
      'Serves a page from this process: every migration with its stage or status, progress per partition, docs/s, ETA, conflicts, dead letters, throttle, workers and leases, verify reports, the side-by-side counters and gates, and the audit log with its chain check. Updates arrive as server-sent events (the state is read once a second, however many pages are open). `GET /metrics` serves Prometheus metrics.',
      `Binds 127.0.0.1 unless --host says otherwise, and prints the URL to open, with a random token in its fragment (or use --token, or $${TOKEN_ENV}). Every API request needs the token; pause, resume, rate, stage changes and rollback also need the same origin, a confirmation and a reason in the page, and are written to the audit log as dashboard:<user>@<host>. A non-loopback --host without a token is refused (exit 2). An in-place rollback runs in this process as a background job; Ctrl-C stops it after its batch (run rollback again to continue). See docs/guides/dashboard.md.`,
    ],
    arguments: [],
    options: [
      {
        flags: '--port <n>',
        description: 'the port to listen on (0: any free port)',
        defaultValue: String(DEFAULT_PORT),
      },
      {
        flags: '--host <address>',
        description: 'the address to bind; anything but loopback needs --token',
        defaultValue: DEFAULT_HOST,
      },
      {
        flags: '--token <token>',
        description: `the access token (at least ${MIN_TOKEN_LENGTH} characters)`,
        defaultDescription: `$${TOKEN_ENV}, else a random one, printed at start`,
      },
      {
        flags: '--interval <ms>',
        description: 'how often the state is read while a page is open (at least 100)',
        defaultValue: DEFAULT_INTERVAL_MS,
        positiveInt: true,
      },
    ],
    examples: [
      { command: 'switchyard dashboard' },
      {
        command: `${TOKEN_ENV}=$(openssl rand -hex 24) switchyard dashboard --host 0.0.0.0 --port 8420`,
        comment: 'reachable from other machines: a token is required',
      },
    ],
  },

  async run(ctx: CliContext, _args, options): Promise<number> {
    // every check before the project is opened: a refusal changes and opens nothing
    const port = parsePort(options.port);
    if (options.interval < MIN_INTERVAL_MS)
      throw new UsageError(`--interval must be at least ${MIN_INTERVAL_MS} ms`, {
        field: '--interval',
      });
    const host = options.host.trim();
    if (host === '')
      throw new UsageError('--host must be an address or a host name', { field: '--host' });
    const envToken = ctx.io.env[TOKEN_ENV];
    const token =
      options.token ?? (envToken !== undefined && envToken !== '' ? envToken : undefined);
    if (token !== undefined && (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)))
      throw new UsageError(
        `the token must be at least ${MIN_TOKEN_LENGTH} characters, without spaces`,
        { field: options.token !== undefined ? '--token' : TOKEN_ENV },
      );
    if (!isLoopbackHost(host) && token === undefined)
      throw new UsageError(
        `--host ${host} is not a loopback address: anyone who can reach it could read the migration state and press the controls. Give a token (--token or $${TOKEN_ENV}), or keep the default --host ${DEFAULT_HOST}`,
        { field: '--host' },
      );
    const actor = `dashboard:${resolveActor(ctx.options.actor)}@${os.hostname()}`;

    return withInterrupt((signal) =>
      withProject(ctx, async (project) => {
        let server;
        try {
          server = await startDashboard({
            project,
            actor,
            host,
            port,
            ...(token !== undefined ? { token } : {}),
            intervalMs: options.interval,
            log: (line) => ctx.err(line),
          });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE')
            throw new UsageError(`port ${port} on ${host} is in use: choose another with --port`, {
              field: '--port',
            });
          if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES')
            throw new UsageError(`cannot listen on ${host}:${port} (${code})`, {
              field: '--host',
            });
          throw err;
        }
        // the URL carries the token only when it was generated here: one given by the
        // operator is theirs to keep out of logs
        const open = server.generatedToken ? server.url : `${server.origin}/`;
        if (ctx.json)
          ctx.out(
            JSON.stringify({
              event: 'listening',
              url: open,
              origin: server.origin,
              host: server.host,
              port: server.port,
              actor,
              ...(server.generatedToken ? { token: server.token } : {}),
            }),
          );
        else {
          ctx.out(`switchyard dashboard: ${open}`);
          if (!server.generatedToken)
            ctx.out(`  open it with #token=<your token> after the URL, or paste the token there`);
          ctx.out(`  controls act as ${actor}; metrics at ${server.origin}/metrics; Ctrl-C stops`);
        }
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await server.close();
        if (!ctx.json) ctx.info('dashboard stopped');
        return 0;
      }),
    );
  },
});
