/**
 * A throwaway server as a child process on a free loopback port, for tests: started, polled
 * until it answers, killed with the test process if the test forgets it, stopped with SIGTERM.
 * The port can be taken between freePort() and the server binding it, so a start is tried a few
 * times on new ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

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

export interface ServerProcess {
  readonly port: number;
  /** the running process's id (a new one after restart()) */
  readonly pid: number;
  stop(): Promise<void>;
  /** kill -9 the server (no shutdown of its own) and wait until it is gone */
  kill9(): Promise<void>;
  /** kill -9 it if it runs, then start it again on the same port, with the same arguments */
  restart(): Promise<void>;
}

export interface ServerProcessOptions {
  /** the command and its arguments for a port */
  command: string;
  args: (port: number) => string[];
  cwd?: string;
  /** does the server on this port answer yet? */
  ready: (port: number) => Promise<boolean>;
  /** how often and how many times to ask */
  pollMs: number;
  polls: number;
  attempts: number;
  /** for the error when no attempt worked */
  name: string;
}

async function startOnce(o: ServerProcessOptions, port: number): Promise<ChildProcess | null> {
  const child = spawn(o.command, o.args(port), {
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.on('error', () => {
    exited = true;
  });
  child.stdout?.resume();
  child.stderr?.resume();
  for (let i = 0; i < o.polls && !exited; i++) {
    if (await o.ready(port)) return child;
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
  if (!exited) child.kill('SIGKILL');
  return null;
}

export async function startServerProcess(o: ServerProcessOptions): Promise<ServerProcess> {
  for (let attempt = 0; attempt < o.attempts; attempt++) {
    const port = await freePort();
    let child = await startOnce(o, port);
    if (child === null) continue;
    const killOnExit = () => child?.kill('SIGKILL');
    process.once('exit', killOnExit);
    const running = () => child !== null && child.exitCode === null && child.signalCode === null;
    const kill9 = async () => {
      if (!running()) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child!.kill('SIGKILL');
      await exited;
    };
    return {
      port,
      get pid() {
        return child?.pid ?? -1;
      },
      async stop() {
        process.removeListener('exit', killOnExit);
        if (running()) {
          const exited = new Promise((r) => child!.once('exit', r));
          child!.kill('SIGTERM');
          await exited;
        }
      },
      kill9,
      async restart() {
        await kill9();
        // the port was just freed by the dead process: it may take a moment to be bindable
        for (let i = 0; i < 20; i++) {
          child = await startOnce(o, port);
          if (child !== null) return;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`${o.name} did not restart on port ${port}`);
      },
    };
  }
  throw new Error(`${o.name} did not start (${o.attempts} attempts)`);
}
