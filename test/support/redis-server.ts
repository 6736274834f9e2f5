/**
 * A throwaway redis-server for tests: a child process on a free loopback port, in a temp dir,
 * with persistence off. `redisServerPath()` says whether one can be started at all, so tests
 * can skip with a visible reason where redis-server is not installed (CI installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** e.g. '7.0.15' */
  readonly version: string;
  stop(): Promise<void>;
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

async function startOnce(bin: string, dir: string, port: number): Promise<ChildProcess | null> {
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
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

export async function startRedisServer(): Promise<RedisServer> {
  const bin = redisServerPath();
  if (bin === null) throw new Error(NO_REDIS_REASON);
  const version = /v=(\S+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout)?.[1];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-redis-'));
  // the port can be taken between freePort() and the server binding it: try a few
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = await startOnce(bin, dir, port);
    if (child === null) continue;
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      version: version ?? 'unknown',
      async stop() {
        process.removeListener('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
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
