/**
 * "The application" of the process tests: a child process that writes until SIGTERM while the
 * test runs and kills switchyard around it, then prints what it did.
 *
 * `appWriterScript` gives the script's text: it imports from dist/index.js (built by the global
 * setup), runs `setup` (which reads its arguments and prints `ready <what>`), then `step` over and
 * over (`seq` counts the steps; an error is counted and printed to stderr, never fatal) with 2 ms
 * between steps, printing `ops <n>` every 10 steps; on SIGTERM it awaits `close` and prints
 * `{"ops":n,"errors":n,...}` as its last line. `startAppWriter` runs it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { exitOf } from './cli-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface AppWriterScript {
  /** the names imported from dist/index.js */
  readonly imports: readonly string[];
  /** statements run once, first; they print `ready <what>` */
  readonly setup: string;
  /** the statements of one step (`seq`: the step's number; `counts.<name>++` for `counters`) */
  readonly step: string;
  /** more counts the step keeps, printed with `ops` and `errors` at the end */
  readonly counters?: readonly string[];
  /** an expression awaited at the end */
  readonly close: string;
}

export function appWriterScript(s: AppWriterScript): string {
  const dist = JSON.stringify(pathToFileURL(path.join(root, 'dist/index.js')).href);
  return `import { ${s.imports.join(', ')} } from ${dist};
${s.setup}
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const counts = { ops: 0, errors: 0${(s.counters ?? []).map((c) => `, ${c}: 0`).join('')} };
for (let seq = 0; !stop; seq++) {
  try {
${s.step}
  } catch (err) {
    counts.errors++;
    process.stderr.write(String(err && err.message) + '\\n');
  }
  counts.ops++;
  if (counts.ops % 10 === 0) process.stdout.write('ops ' + counts.ops + '\\n');
  await new Promise((r) => setTimeout(r, 2));
}
await ${s.close};
process.stdout.write(JSON.stringify(counts) + '\\n');
`;
}

export interface AppWriter {
  /** what it printed so far */
  readonly io: { out: string; err: string };
  /** wait until it has made 10 steps (up to 20 s); it said `ready <what>` */
  ready(what: string): Promise<void>;
  /** SIGTERM it and wait: it made more than 50 steps, none failed */
  stop(): Promise<{ ops: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run the script `file` with `args`, in `cwd`. */
export function startAppWriter(cwd: string, file: string, args: readonly string[]): AppWriter {
  const writer = spawn(process.execPath, [file, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = { out: '', err: '' };
  writer.stdout!.on('data', (b: Buffer) => (io.out += b.toString()));
  writer.stderr!.on('data', (b: Buffer) => (io.err += b.toString()));
  return {
    io,
    async ready(what) {
      for (let i = 0; i < 400 && !io.out.includes('ops 10'); i++) await sleep(50);
      expect(io.out, io.err).toContain(`ready ${what}`);
    },
    async stop() {
      writer.kill('SIGTERM');
      await exitOf(writer);
      const counts = JSON.parse(io.out.trim().split('\n').pop()!);
      expect(counts.errors, io.err).toBe(0);
      expect(counts.ops).toBeGreaterThan(50);
      return counts as { ops: number };
    },
  };
}
