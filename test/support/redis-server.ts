/**
 * A throwaway redis-server for tests: a child process on a free loopback port, in a temp dir,
 * with persistence off. `redisServerPath()` says whether one can be started at all, so tests
 * can skip with a visible reason where redis-server is not installed (CI installs it).
 *
 * `startRedisServer({ appendonly: true })` keeps an append-only file (fsync on every write, so a
 * kill -9 loses nothing acknowledged) and gives `kill9()` and `restart()`: the server dies
 * without a word and comes back on the same port from the same dir, as a new process (a new
 * run id), with the data it had.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** e.g. '7.0.15' */
  readonly version: string;
  stop(): Promise<void>;
}

export interface RestartableRedisServer extends RedisServer {
  /** the directory the server keeps its append-only file in */
  readonly dir: string;
  /** SIGKILL the server and wait until it is gone (nothing is flushed, nothing is said) */
  kill9(): Promise<void>;
  /** start it again on the same port and dir (after kill9, or kills it first) */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** keep an append-only file, fsynced on every write (default: no persistence) */
  appendonly?: boolean;
}

let cachedPath: string | null | undefined;

/** The redis-server binary (SWITCHYARD_REDIS_SERVER or PATH), or null when there is none. */
export function redisServerPath(): string | null {
  if (cachedPath !== undefined) return cachedPath;
  const bin = process.env.SWITCHYARD_REDIS_SERVER ?? 'redis-server';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  cachedPath = r.status === 0 ? bin : null;
  return cachedPath;
}

export const NO_REDIS_REASON =
  'redis-server is not installed (apt-get install redis-server, or set SWITCHYARD_REDIS_SERVER)';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function startOnce(
  bin: string,
  dir: string,
  port: number,
  options: RedisServerOptions,
): Promise<ChildProcess | null> {
  const persistence = options.appendonly
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...persistence,
      '--dir',
      dir,
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.stdout?.resume();
  child.stderr?.resume();
  for (let i = 0; i < 100 && !exited; i++) {
    if (await ping(port)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!exited) child.kill('SIGKILL');
  return null;
}

export function startRedisServer(): Promise<RedisServer>;
export function startRedisServer(
  options: RedisServerOptions & { appendonly: true },
): Promise<RestartableRedisServer>;
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RestartableRedisServer> {
  const bin = redisServerPath();
  if (bin === null) throw new Error(NO_REDIS_REASON);
  const version = /v=(\S+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout)?.[1];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redis-'));
  // the port can be taken between freePort() and the server binding it: try a few
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const first = await startOnce(bin, dir, port, options);
    if (first === null) continue;
    let child: ChildProcess = first;
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const running = () => child.exitCode === null && child.signalCode === null;
    const kill9 = async (): Promise<void> => {
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    };
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      version: version ?? 'unknown',
      dir,
      kill9,
      async restart() {
        await kill9();
        // the port was just freed by the dead process: it may take a moment to be bindable
        for (let i = 0; i < 20; i++) {
          const next = await startOnce(bin, dir, port, options);
          if (next !== null) {
            child = next;
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`redis-server did not restart on port ${port}`);
      },
      async stop() {
        process.removeListener('exit', killOnExit);
        if (running()) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error('redis-server did not start (5 attempts)');
}

/** Whether redis-server is here; in CI its absence fails the test file instead of skipping it. */
export function redisOrFailInCi(): boolean {
  const has = redisServerPath() !== null;
  if (!has && process.env.CI) throw new Error(`redis tests cannot run in CI: ${NO_REDIS_REASON}`);
  return has;
}

/**
 * One redis-server for the enclosing describe: started before its tests, stopped after them.
 * Call it in the describe's body; the returned function gives the running server.
 */
export function useRedisServer(when = true): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    if (when) server = await startRedisServer();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => server!;
}
