import path from 'node:path';
import {
  DEFAULT_DEMO_DIR,
  DEFAULT_DEMO_DOCS,
  runDemo,
  type DemoNarrator,
  type DemoSummary,
} from '../../demo/run-demo.js';
import { checkDemoDir } from '../../demo/demo-files.js';
import { DEFAULT_DEMO_SEED } from '../../demo/generate-users.js';
import {
  DEFAULT_SIDE_BY_SIDE_DOCS,
  runSideBySideDemo,
  SIDE_BY_SIDE_STEPS,
} from '../../demo/run-side-by-side-demo.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { Progress } from '../progress.js';
import { printTable } from './status.js';

interface DemoCliOptions {
  dir: string;
  docs?: number;
  seed: number;
  sideBySide?: boolean;
}

const STEPS = 8;
/** without a terminal, a progress line at most this often */
const PLAIN_PROGRESS_MS = 2000;

export const demoCommand = defineCommand<DemoCliOptions>({
  spec: {
    name: 'demo',
    summary:
      'the whole life of a migration on generated data: plan, backfill, verify, drift, rollback',
    details: [
      "Needs nothing but this package. In --dir it generates realistic users (seeded, so the same every time), imports them into an SQLite file, writes switchyard.config.ts and a migration (split a name, lower-case an email — lossy —, rename a nested field), then plans it, backfills it, verifies it, changes a few documents behind Switchyard's back with plain SQL and shows verify naming exactly those keys and paths, rolls back, and proves that an export after the rollback equals the export taken before the backfill byte for byte, except the documents changed by hand, which are kept as conflicts. It ends with a summary table and the audit log, and suggests what to try next on the same files.",
      'Each claim is checked as it goes: exit 0 when all hold, 1 when one does not (the summary names it). A non-empty --dir is refused unless a previous demo made it; then it is wiped and made again.',
    ],
    refusesGlobals: {
      options: ['store', 'config', 'migrations'],
      why: 'the demo always works on its own SQLite file, sqlite:<dir>/demo.db, with its own config and migrations in --dir',
    },
    arguments: [],
    options: [
      {
        flags: '--dir <dir>',
        description: 'the directory to work in (created; a previous demo directory is replaced)',
        defaultValue: `./${DEFAULT_DEMO_DIR}`,
      },
      {
        flags: '--docs <n>',
        description: 'how many users to generate',
        defaultDescription: `${DEFAULT_DEMO_DOCS} (${DEFAULT_SIDE_BY_SIDE_DOCS} with --side-by-side)`,
        positiveInt: true,
      },
      {
        flags: '--side-by-side',
        description:
          'the side-by-side life instead: an application keeps reading and writing through the runtime while the users move to a new collection (dual writes, backfill, verify, tampering caught by the gated ramp, which steps back, repair, live 100 %, rampdown, complete)',
      },
      {
        flags: '--seed <n>',
        description: 'the data generator seed (the same seed gives the same documents)',
        defaultValue: DEFAULT_DEMO_SEED,
        positiveInt: true,
      },
    ],
    examples: [
      { command: 'npx switchyard demo' },
      { command: 'npx switchyard demo --side-by-side', comment: 'zero-downtime cut-over' },
      { command: 'switchyard demo --docs 10000 --dir /tmp/sy-demo' },
      { command: 'switchyard demo --json', comment: 'one JSON summary object, no narration' },
    ],
  },

  async run(ctx: CliContext, _args, options): Promise<number> {
    const docs =
      options.docs ?? (options.sideBySide === true ? DEFAULT_SIDE_BY_SIDE_DOCS : DEFAULT_DEMO_DOCS);
    const dir = path.resolve(ctx.io.cwd, options.dir);
    const shownDir = displayPath(ctx.io.cwd, dir);
    checkDemoDir(dir); // refuse an unusable --dir before saying anything
    // `switchyard demo | head`: stop writing to a closed pipe instead of crashing on it
    let stdoutClosed = false;
    const onStdoutError = (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
      stdoutClosed = true;
    };
    ctx.io.stdout.on('error', onStdoutError);
    const narrating = !ctx.json && !ctx.quiet;
    const narrate = () => narrating && !stdoutClosed;
    const bar = new Progress(ctx.io.stderr, ctx.showProgress && !ctx.json);
    let lastPlain = 0;
    const narrator: DemoNarrator = {
      step: (i, title) => {
        lastPlain = Date.now();
        const total = options.sideBySide === true ? SIDE_BY_SIDE_STEPS : STEPS;
        if (narrate()) ctx.out(`\n[${i}/${total}] ${title[0]!.toUpperCase()}${title.slice(1)}`);
      },
      say: (text) => {
        if (narrate()) ctx.out(`  ${text}`);
      },
      progress: (text) => {
        if (ctx.showProgress && !ctx.json) bar.update(text, true);
        else if (narrate() && Date.now() - lastPlain >= PLAIN_PROGRESS_MS) {
          lastPlain = Date.now();
          ctx.out(`  ... ${text}`);
        }
      },
      progressDone: () => bar.done(),
    };
    const actor =
      ctx.options.actor !== undefined
        ? { actor: ctx.options.actor }
        : ctx.io.env.SWITCHYARD_ACTOR
          ? { actor: ctx.io.env.SWITCHYARD_ACTOR }
          : {};
    const sideBySide = options.sideBySide === true;
    if (narrate())
      ctx.out(
        sideBySide
          ? `switchyard demo --side-by-side: ${docs.toLocaleString('en-US')} users in ${shownDir} move to a new collection while an application keeps reading and writing them (about 30 seconds).`
          : `switchyard demo: ${docs.toLocaleString('en-US')} users in ${shownDir}, on an SQLite file (the embedded default). About ${estimate(docs)}.`,
      );
    try {
      const run = { dir, docs, seed: options.seed, displayDir: shownDir, narrator, ...actor };
      const summary = sideBySide ? await runSideBySideDemo(run) : await runDemo(run);
      bar.done();
      if (ctx.json) ctx.outJson(summary);
      else if (narrate()) {
        printSteps(ctx, summary);
        if (!sideBySide && summary.ok) printNext(ctx, shownDir);
      }
      if (!summary.ok) ctx.err(`demo FAILED: ${summary.failure}`);
      return summary.ok ? 0 : 1;
    } finally {
      bar.done();
      ctx.io.stdout.off('error', onStdoutError);
    }
  },
});

function printSteps(ctx: CliContext, summary: Pick<DemoSummary, 'steps' | 'totalSeconds'>): void {
  ctx.out('');
  printTable(
    ctx,
    ['STEP', 'RESULT', 'TIME'],
    summary.steps.map((s) => [s.step, s.result, `${s.seconds.toFixed(1)}s`]),
  );
  ctx.out(`total ${summary.totalSeconds.toFixed(1)}s`);
}

/** What to try next on the in-place demo's files. */
function printNext(ctx: CliContext, shownDir: string): void {
  const store = `--store ${quote(`sqlite:${path.join(shownDir, 'demo.db')}`)}`;
  ctx.out('');
  ctx.out(`Everything held. The files are in ${shownDir}. Try next:`);
  ctx.out(`  npx switchyard ${store} audit --limit 10`);
  ctx.out(`  npx switchyard ${store} export users | head -2`);
  ctx.out(`  npx switchyard ${store} count users`);
  ctx.out(`  cd ${quote(shownDir)}          # its switchyard.config.ts points at demo.db, so:`);
  ctx.out(`  npx switchyard status`);
  ctx.out(`  npx switchyard backfill split-name     # again (it skips the conflicts, still at v2)`);
  ctx.out(`  npx switchyard verify split-name --full`);
  ctx.out(`  npx switchyard rollback split-name --reason "trying it out"`);
}

function displayPath(cwd: string, dir: string): string {
  const rel = path.relative(cwd, dir);
  if (rel === '') return '.';
  return rel.startsWith('..') || path.isAbsolute(rel) ? dir : rel;
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function estimate(docs: number): string {
  const seconds = Math.max(2, Math.round(docs / 3800));
  return seconds < 60 ? `${seconds} seconds` : `${Math.round(seconds / 60)} minutes`;
}
