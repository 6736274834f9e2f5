/**
 * Loading user files (config, migrations) written in TypeScript or JavaScript at run time, with no
 * build step (jiti). `import ... from 'switchyard'` in such a file resolves to this very package,
 * wherever the file lives, so user files work in a project that has not installed switchyard
 * itself (a global install, npx) and share this process's module instances.
 *
 * TypeScript files are transformed on every load (no module cache), so a long-running process
 * sees edits; `.mjs`/`.js` ESM files go through Node's own loader, which keeps a module for the
 * life of the process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';

function packageEntry(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of ['../index.js', '../index.ts']) {
    const p = path.resolve(here, candidate);
    if (fs.existsSync(p)) return p;
  }
  return path.resolve(here, '../index.js');
}

let cached: ReturnType<typeof createJiti> | undefined;
let uncached: ReturnType<typeof createJiti> | undefined;

function makeJiti(fsCache: boolean): ReturnType<typeof createJiti> {
  return createJiti(import.meta.url, {
    alias: { switchyard: packageEntry() },
    moduleCache: false,
    fsCache,
    interopDefault: false,
    tryNative: false,
  });
}

/**
 * The module's namespace object (`default` and named exports), not unwrapped.
 *
 * jiti's disk cache saves ~0.4 s per process, but it is written in place: a process that starts
 * while another writes the same entry can read half a file (seen as "splitField is not a
 * function" when a dashboard and a backfill started together). A failed load is therefore tried
 * once more without the disk cache; a real error in the file fails the same way twice.
 */
export async function loadModule(file: string): Promise<Record<string, unknown>> {
  cached ??= makeJiti(true);
  try {
    return (await cached.import(path.resolve(file))) as Record<string, unknown>;
  } catch {
    uncached ??= makeJiti(false);
    return (await uncached.import(path.resolve(file))) as Record<string, unknown>;
  }
}
