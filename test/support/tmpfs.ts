/**
 * A small real file system for disk-full tests: a tmpfs mounted on a directory of the test's
 * (root only). `tmpfsUnavailable()` says why none can be mounted here (a mount tried and taken
 * back at once), so a test can skip with the reason.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Mount a tmpfs with `options` (e.g. 'size=4m') on `dir`; why it failed, or null. */
export function mountTmpfs(dir: string, options: string): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0
    ? null
    : `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
}

let cached: string | null | undefined;

export function tmpfsUnavailable(): string | null {
  if (cached !== undefined) return cached;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-disk-probe-'));
  cached = mountTmpfs(probe, 'size=1m');
  if (cached === null) spawnSync('umount', [probe]);
  fs.rmSync(probe, { recursive: true, force: true });
  return cached;
}
