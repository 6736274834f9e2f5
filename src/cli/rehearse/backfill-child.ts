/**
 * The rehearsal's backfill, as the real CLI in a child process, killed with SIGKILL once at a
 * random moment and run again to the end: the honest test of "a killed backfill resumes".
 *
 * Rules:
 * - The moment is a number of documents done, drawn from the rehearsal's seed between 20% and
 *   80% of the copy. The partitions' checkpoints (written after every batch) are read every
 *   POLL_MS from the scratch state store, as are the child's progress lines (--json, one a
 *   second); the child is killed as soon as either reaches the moment. A child that finishes
 *   first was not killed, and the result says so.
 * - A run's time is from its `start` line (the worker holds its partitions) to its exit, so a
 *   node start-up is not counted as backfill time.
 * - The child runs in the scratch directory, whose config names only the scratch store: nothing
 *   of the project's config (its state store, its approvals) reaches the rehearsal.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../../core/errors.js';

/** how often the checkpoints are read while waiting for the kill moment */
export const POLL_MS = 25;

/** When to kill: once `done()` (the documents the checkpoints count) reaches `at`. */
export interface KillPoint {
  at: number;
  done: () => Promise<number>;
}

const BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../bin/switchyard.js',
);

export interface ChildRun {
  /** the exit code; null when killed */
  code: number | null;
  /** ms from its start line to its exit (0 when it never started) */
  ms: number;
  /** documents done at the last progress line seen */
  done: number;
  /** what it wrote on stderr (log lines), for an error message */
  stderr: string;
}

export interface BackfillRuns {
  /** the run that was killed (or that finished before the kill point) */
  first: ChildRun;
  /** the run that resumed it; undefined when the first finished before the kill point */
  resumed: ChildRun | undefined;
  /** the kill point drawn, in documents done */
  killAt: number;
  /** documents done when the kill came; undefined when it never came */
  killedAtDone: number | undefined;
}

/** Run the CLI with `args` in `cwd`; kill -9 it once a progress line reaches `killAt` (if given). */
export function runChild(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  kill?: KillPoint,
): Promise<ChildRun & { killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let startedAt: number | undefined;
    let done = 0;
    let killed = false;
    let buffered = '';
    let stderr = '';
    let exited = false;
    const reached = (n: number) => {
      done = Math.max(done, n);
      if (kill !== undefined && !killed && !exited && done >= kill.at) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    const poll = async (): Promise<void> => {
      while (kill !== undefined && !killed && !exited) {
        // a read that fails (the store busy for a moment) is read again at the next tick
        reached(await kill.done().catch(() => 0));
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    };
    void poll();
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    child.stdout.on('data', (b: Buffer) => {
      buffered += b.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let e: { event?: string; done?: number };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          continue;
        }
        if (e.event === 'start') startedAt ??= Date.now();
        if (e.event === 'progress' && typeof e.done === 'number') reached(e.done);
      }
    });
    child.on('error', (err) =>
      reject(new StoreError(`cannot run the backfill: ${err.message}`, { cause: err })),
    );
    child.on('exit', (code) => {
      exited = true;
      resolve({
        code,
        ms: startedAt === undefined ? 0 : Date.now() - startedAt,
        done,
        stderr,
        killed,
      });
    });
  });
}

/** The backfill killed once at `killAt` documents and run again until it ends. */
export async function killedAndResumed(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  kill: KillPoint,
): Promise<BackfillRuns> {
  const first = await runChild(args, cwd, env, kill);
  const killAt = kill.at;
  if (!first.killed) return { first, resumed: undefined, killAt, killedAtDone: undefined };
  const resumed = await runChild(args, cwd, env);
  return { first, resumed, killAt, killedAtDone: first.done };
}
