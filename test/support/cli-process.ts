/**
 * `node bin/switchyard.js ...` as a real child process (dist/ is built by the global setup), with
 * its output collected as it comes, for tests that kill things around it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');

export interface CliProcess {
  readonly child: ChildProcess;
  /** what it wrote so far */
  stdout(): string;
  stderr(): string;
  /** its exit code (null: killed by a signal) */
  readonly exited: Promise<number | null>;
}

export function spawnCli(args: readonly string[], cwd: string): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((resolve) => child.on('exit', resolve)),
  };
}

/** `output`: stdout and stderr as they came; `stdoutText`: stdout alone (JSON) */
export type CliChild = ChildProcess & { output: string; stdoutText: string };

/** `switchyard <args>` in `cwd` (same environment as spawnCli), its output gathered on it. */
export function startCli(cwd: string, args: readonly string[]): CliChild {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as CliChild;
  child.output = '';
  child.stdoutText = '';
  child.stdout!.on('data', (b: Buffer) => {
    child.output += b.toString();
    child.stdoutText += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => (child.output += b.toString()));
  return child;
}

/** Its exit code, once it has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Run it to the end: exit code, everything it printed, and its stdout alone. */
export async function runCli(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; out: string; stdout: string }> {
  const child = startCli(cwd, args);
  const code = await exitOf(child);
  await new Promise((r) => (child.stdout!.readableEnded ? r(null) : child.stdout!.once('end', r)));
  return { code, out: child.output, stdout: child.stdoutText };
}

/** Run it to the end, synchronously: exit code, stdout and stderr. */
export function runCliSync(
  cwd: string,
  args: readonly string[],
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
