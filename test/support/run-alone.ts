/**
 * Which test files run alone, and the lock that makes them.
 *
 * The suite runs two files at a time (vitest.config.ts `maxWorkers: 2`), but a file that starts
 * real processes — the CLI as a child (kill -9 at a random moment), DynamoDB Local (a JVM), the
 * netns hosts, Chromium, the soak — runs alone among such files: two of them at once would fight
 * for the 2 cores, and their timing (a kill landing mid-run, a slow link) is what they test. The
 * other worker meanwhile runs the in-process files. So the suite takes about the time of its
 * process files plus nothing, where one worker took both.
 *
 * - `runsAlone(file)`: the file's text names a way to start a process (the patterns below) or
 *   says `run-alone` in a comment (for a file whose timing matters for another reason).
 * - `takeAloneLock()` / `dropAloneLock()`: a directory made with mkdir (atomic) in the temp dir,
 *   named after this checkout, holding the holder's pid; a lock whose holder died is taken over.
 *   test/global-setup.ts removes a lock left by an aborted run.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// (projectCli and app-writer start CLI and application processes: test/support)
const ALONE =
  /\bspawn|startCli|runCliSync|execFile|projectCli|app-writer|[Dd]ynamoDbLocal|dynamoDescribe|chromium|netns|scripts\/soak|run-alone/;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const lockDir = path.join(
  os.tmpdir(),
  `switchyard-tests-${createHash('sha1').update(root).digest('hex').slice(0, 12)}.alone`,
);
const pidFile = path.join(lockDir, 'pid');

export function runsAlone(file: string): boolean {
  try {
    return ALONE.test(fs.readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function takeAloneLock(): Promise<void> {
  let seenEmptyAt: number | undefined;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(pidFile, String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: number | undefined;
    try {
      holder = Number(fs.readFileSync(pidFile, 'utf8'));
    } catch {
      // made but its pid not written yet (or never: the maker died in between)
      seenEmptyAt ??= Date.now();
      if (Date.now() - seenEmptyAt > 10_000) fs.rmSync(lockDir, { recursive: true, force: true });
    }
    if (holder !== undefined && !alive(holder))
      fs.rmSync(lockDir, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function dropAloneLock(): void {
  try {
    if (Number(fs.readFileSync(pidFile, 'utf8')) === process.pid)
      fs.rmSync(lockDir, { recursive: true, force: true });
  } catch {
    // not ours, or gone
  }
}

/** Remove a lock left by an aborted run (test/global-setup.ts, before any worker starts). */
export function clearAloneLock(): void {
  fs.rmSync(lockDir, { recursive: true, force: true });
}
