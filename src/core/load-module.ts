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

let jiti: ReturnType<typeof createJiti> | undefined;

/** The module's namespace object (`default` and named exports), not unwrapped. */
export async function loadModule(file: string): Promise<Record<string, unknown>> {
  jiti ??= createJiti(import.meta.url, {
    alias: { switchyard: packageEntry() },
    moduleCache: false,
    fsCache: true,
    interopDefault: false,
    tryNative: false,
  });
  return (await jiti.import(path.resolve(file))) as Record<string, unknown>;
}
