/**
 * `npm run soak`: the guarantees under many faults. For each store (soak-stores.ts), N trials of
 * soak-trial.ts (seed, backfill killed with kill -9 at a random moment while the application
 * writes through the store's own client, resume, verify, rollback), then one table per store.
 *
 *   npm run soak -- [--trials 100] [--seed 1] [--stores sqlite,redis]
 *
 * Trial t of a run uses seed `seed + t`; a failing trial's seed is printed, and
 * `--trials 1 --seed <it>` runs that trial again. Exit 0 when every trial is clean, 1 otherwise,
 * 2 for a bad flag. dist/ must be built (`npx tsc -p tsconfig.build.json`): the CLI runs from it.
 */
import { parseArgs } from 'node:util';
import { failed, runTrial, type TrialResult } from './soak-trial.js';
import { soakStores, type SoakStore } from './soak-stores.js';

export interface StoreSoak {
  readonly store: string;
  /** why the store was not soaked, or null */
  readonly skipped: string | null;
  readonly trials: readonly TrialResult[];
  readonly seconds: number;
}

export async function soakStore(
  store: SoakStore,
  trials: number,
  seed: number,
  onTrial: (r: TrialResult) => void = () => undefined,
): Promise<StoreSoak> {
  const why = store.unavailable();
  if (why !== null) return { store: store.name, skipped: why, trials: [], seconds: 0 };
  const started = Date.now();
  await store.start();
  const results: TrialResult[] = [];
  try {
    for (let t = 0; t < trials; t++) {
      const r = await runTrial(store, seed + t);
      results.push(r);
      onTrial(r);
    }
  } finally {
    await store.stop();
  }
  return {
    store: store.name,
    skipped: null,
    trials: results,
    seconds: (Date.now() - started) / 1000,
  };
}

/** One markdown table: the counts summed over the trials, and the seeds of failed trials. */
export function soakTable(s: StoreSoak): string {
  if (s.skipped !== null) return `${s.store}: skipped (${s.skipped})`;
  const sum = (f: (r: TrialResult) => number) => s.trials.reduce((a, r) => a + f(r), 0);
  const bad = s.trials.filter(failed).map((r) => r.seed);
  const rows: [string, string | number][] = [
    ['trials', s.trials.length],
    ['killed mid-run (0 < migrated < all)', sum((r) => (r.killedMidRun ? 1 : 0))],
    ['documents', sum((r) => r.docs)],
    ['acknowledged application writes', sum((r) => r.appWrites)],
    ['lost writes', sum((r) => r.lostWrites)],
    ['double transforms', sum((r) => r.doubleTransforms)],
    ['left behind (not migrated)', sum((r) => r.leftBehind)],
    ['verify failures', sum((r) => r.verifyFailures)],
    ['rollback mismatches', sum((r) => r.rollbackMismatches)],
    ['failed CLI steps', sum((r) => r.runFailures.length)],
    ['seeds that reproduce a failure', bad.length === 0 ? 'none' : bad.join(' ')],
    ['wall time', `${Math.round(s.seconds)} s`],
  ];
  return [
    `### ${s.store}`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  ].join('\n');
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        trials: { type: 'string', default: '100' },
        seed: { type: 'string', default: '1' },
        stores: { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    return 2;
  }
  const trials = Number(values.trials);
  const seed = Number(values.seed);
  if (!Number.isInteger(trials) || trials < 1) {
    process.stderr.write(`soak: --trials must be a whole number >= 1, not '${values.trials}'\n`);
    return 2;
  }
  if (!Number.isInteger(seed)) {
    process.stderr.write(`soak: --seed must be a whole number, not '${values.seed}'\n`);
    return 2;
  }
  const all = soakStores();
  const names = values.stores?.split(',') ?? all.map((s) => s.name);
  const unknown = names.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `soak: unknown store '${unknown.join(', ')}' in --stores (known: ${all.map((s) => s.name).join(', ')})\n`,
    );
    return 2;
  }
  let clean = true;
  for (const store of all.filter((s) => names.includes(s.name))) {
    const result = await soakStore(store, trials, seed, (r) => {
      process.stderr.write(
        `${store.name} seed ${r.seed}: ${failed(r) ? 'FAILED' : 'ok'} (${r.docs} docs, ${r.appWrites} app writes, ${r.killedMidRun ? 'killed mid-run' : `kill outside the run: ${r.migratedAtKill} migrated`})${r.runFailures.map((f) => `\n  ${f}`).join('')}\n`,
      );
    });
    if (result.trials.some(failed)) clean = false;
    process.stdout.write(`${soakTable(result)}\n\n`);
  }
  return clean ? 0 : 1;
}

if (process.argv[1] !== undefined && /soak\.ts$/.test(process.argv[1]))
  main().then((code) => process.exit(code));
