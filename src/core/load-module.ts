/**
 * Loading user files (config, migrations) written in TypeScript or JavaScript at run time, with no
 * build step (jiti). `import ... from 'switchyard'` in such a file is this very package, as this
 * process already loaded it (a jiti virtual module), wherever the file lives: user files work in a
 * project that has not installed switchyard itself (a global install, npx) and share this
 * process's module instances. (An alias to the package's entry file made jiti transform and
 * evaluate the whole package again for every process: about 1.3 s per command, and a second
 * copy of every class.)
 *
 * TypeScript files are transformed on every load (no module cache), so a long-running process
 * sees edits; `.mjs`/`.js` ESM files go through Node's own loader, which keeps a module for the
 * life of the process.
 */
import path from 'node:path';
import { createJiti } from 'jiti';

let cached: ReturnType<typeof createJiti> | undefined;
let uncached: ReturnType<typeof createJiti> | undefined;

async function makeJiti(fsCache: boolean): Promise<ReturnType<typeof createJiti>> {
  const self: Record<string, unknown> = await import('../index.js');
  return createJiti(import.meta.url, {
    virtualModules: { switchyard: self },
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
  cached ??= await makeJiti(true);
  try {
    return (await cached.import(path.resolve(file))) as Record<string, unknown>;
  } catch {
    uncached ??= await makeJiti(false);
    return (await uncached.import(path.resolve(file))) as Record<string, unknown>;
  }
}
