/**
 * Shared set-up for the dashboard tests: temp projects with migration files, the CLI as a real
 * child process (with its output collected and waited on), polling for conditions with
 * generous timeouts, and the page built when it is missing or older than web/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project } from '../../src/project.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** an in-place migration: split name, lower-case email, rename address.zip; a few dead letters */
export const SPLIT_MIGRATION = `import { defineMigration, lowercase, renameField, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [
    splitField('name', ['first', 'last'], ' '),
    lowercase('email'),
    renameField('address.zip', 'address.postalCode'),
  ],
  // a few users have implausible visit counts: they go to the dead letters, with this error
  up: (d) => {
    if (typeof d.visits === 'number' && d.visits > 150) throw new Error('visits out of range: ' + d.visits);
  },
});
`;

/** the same, simpler, for documents without address or visits (test/engine userDoc) */
export const SIMPLE_MIGRATION = `import { defineMigration, lowercase, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
});
`;

/** a side-by-side migration of another collection (profiles -> profiles_v2, maybe on another store) */
export function sideBySideMigration(targetStore?: string): string {
  return `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({
  collection: 'profiles',
  target: { collection: 'profiles_v2'${targetStore !== undefined ? `, store: ${JSON.stringify(targetStore)}` : ''} },
  operations: [renameField('email', 'mail')],
});
`;
}

export function writeMigrations(dir: string, files: Record<string, string>): string {
  const migrations = path.join(dir, 'migrations');
  fs.mkdirSync(migrations, { recursive: true });
  for (const [name, text] of Object.entries(files))
    fs.writeFileSync(path.join(migrations, name), text);
  return migrations;
}

/** A project in `dir` on the SQLite file data.db there, with these migration files, as 'ci'. */
export function openSqliteProject(dir: string, files: Record<string, string>): Promise<Project> {
  return Project.open({
    store: `sqlite:${path.join(dir, 'data.db')}`,
    migrationsDir: writeMigrations(dir, files),
    cwd: dir,
    actor: 'ci',
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until `fn` returns a value other than undefined/false; fail naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    await sleep(intervalMs);
  }
}

export interface CliChild {
  readonly child: ChildProcess;
  output(): string;
  /** the first JSON line of stdout matching `pred` */
  waitForJson(
    what: string,
    pred: (v: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
  kill(): Promise<void>;
}

/** `node bin/switchyard.js ...args` as a child process, output collected. */
export function spawnCli(args: string[], cwd: string, env: Record<string, string> = {}): CliChild {
  const child = spawn(process.execPath, [path.join(root, 'bin/switchyard.js'), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => `${stdout}${stderr ? `\n[stderr]\n${stderr}` : ''}`,
    waitForJson: (what, pred, timeoutMs = 30_000) =>
      waitFor(
        what,
        () => {
          for (const line of stdout.split('\n')) {
            if (!line.startsWith('{')) continue;
            try {
              const v = JSON.parse(line) as Record<string, unknown>;
              if (pred(v)) return v;
            } catch {
              // a line being written
            }
          }
          if (gone()) throw new Error(`the process exited (${child.exitCode}): ${stdout}${stderr}`);
          return undefined;
        },
        timeoutMs,
      ),
    exited: () => exit,
    async kill() {
      if (gone()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(t);
    },
  };
}

/**
 * Build dist/web when it is missing or older than a file of web/ (or vite.config.ts). Test files
 * run in parallel: a lock directory makes one build at a time, and the others look again after.
 */
export async function ensurePageBuilt(): Promise<void> {
  const index = path.join(root, 'dist/web/index.html');
  const newest = (p: string): number => {
    const s = fs.statSync(p);
    if (!s.isDirectory()) return s.mtimeMs;
    return Math.max(0, ...fs.readdirSync(p).map((n) => newest(path.join(p, n))));
  };
  const fresh = () => {
    const sources = Math.max(
      newest(path.join(root, 'web')),
      newest(path.join(root, 'vite.config.ts')),
    );
    return fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources;
  };
  if (fresh()) return;
  const lock = path.join(root, 'dist/.web-build.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  await waitFor(
    'the lock on the page build',
    () => {
      try {
        fs.mkdirSync(lock);
        return true;
      } catch {
        // a lock left by a killed run is taken over after two minutes
        if (Date.now() - fs.statSync(lock).mtimeMs > 120_000) fs.rmSync(lock, { recursive: true });
        return false;
      }
    },
    180_000,
  );
  try {
    if (!fresh())
      execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build'], {
        cwd: root,
        stdio: 'pipe',
      });
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
