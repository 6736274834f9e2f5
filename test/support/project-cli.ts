/**
 * The CLI of a test project: `switchyard --store <url> --migrations <dir>/migrations ...` as real
 * processes in the project's folder (dist/ is built by the global setup), for the tests that run
 * an operation as processes against a store. `dir` is asked for at each call, so a `beforeEach`
 * may make a new folder for every test.
 */
import path from 'node:path';
import { expect } from 'vitest';
import { exitOf, runCliSync, startCli, type CliChild } from './cli-process.js';

export interface ProjectCli {
  /** the arguments after `switchyard`: the store, the migrations folder, then `rest` */
  args(url: string, rest: readonly string[]): string[];
  /** run `switchyard <rest>` to the end */
  sy(url: string, ...rest: string[]): { code: number | null; out: string; err: string };
  /** start `switchyard <rest>`, its output gathered on it */
  start(url: string, ...rest: string[]): CliChild;
  /** `switchyard export <collection>` (exit 0), its lines sorted: a Redis scan has its own order */
  exportOf(url: string, collection: string): string;
  /**
   * Start `switchyard <rest>`, wait (up to `polls` x 50 ms) until `progressed()` says it did some
   * work, and `settleMs` plus up to `jitterMs` (default 300) more; then SIGKILL it, still
   * running.
   */
  killMidway(
    url: string,
    rest: readonly string[],
    progressed: () => Promise<boolean>,
    o?: { polls?: number; settleMs?: number; jitterMs?: number },
  ): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function projectCli(dir: () => string): ProjectCli {
  const args = (url: string, rest: readonly string[]) => [
    '--store',
    url,
    '--migrations',
    path.join(dir(), 'migrations'),
    ...rest,
  ];
  const sy = (url: string, ...rest: string[]) => runCliSync(dir(), args(url, rest));
  return {
    args,
    sy,
    start: (url, ...rest) => startCli(dir(), args(url, rest)),
    exportOf(url, collection) {
      const r = sy(url, 'export', collection);
      expect(r.code, r.err).toBe(0);
      return r.out.split('\n').sort().join('\n');
    },
    async killMidway(url, rest, progressed, { polls = 600, settleMs = 100, jitterMs = 300 } = {}) {
      const child = startCli(dir(), args(url, rest));
      for (let i = 0; i < polls && !(await progressed()); i++) await sleep(50);
      await sleep(settleMs + Math.random() * jitterMs);
      expect(child.exitCode).toBeNull(); // still running when killed
      child.kill('SIGKILL');
      await exitOf(child);
    },
  };
}
