/**
 * One soak trial, all through the real CLI in child processes: seed documents, start a backfill,
 * kill -9 it at a random moment while an application writes through the store's own client,
 * run the backfill again (it resumes), stop the writer, verify --full, roll back; then count
 * what went wrong:
 *   lost writes          acknowledged application writes not there after the backfill or after
 *                        the rollback
 *   double transforms    documents whose counter says up() was applied more (or less) than once
 *   left behind          documents not at the new version after the resumed backfill
 *   verify failures      `verify --full` did not exit 0
 *   rollback mismatches  documents not back to their original after the rollback (the
 *                        application's note kept; `_sv: 1` allowed only where down() ran)
 *   run failures         a CLI step that should succeed exited non-zero
 * The seed fixes the trial's parameters (document count, partitions, kill moment, which keys
 * the writer changes); it cannot fix the operating system's timing, so a failing seed is a
 * starting point for reproduction, not a replay.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalEquals, openStore, type Doc } from '../../src/index.js';
// the engine's own seeded generator (a pure function), so a seed means the same everywhere
import { seededRandom } from '../../src/engine/sample.js';
// the shape of `verify --json` (the CLI prints this report)
import type { VerifyReport } from '../../src/engine/verify.js';
import { spawnCli, type CliProcess } from '../../test/support/cli-process.js';
import { allDocs, seedUsers, userDoc } from '../../test/engine/backfill-fixtures.js';
import type { SoakStore } from './soak-stores.js';

export const SOAK_MIGRATION = `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' ')],
  // counts transformations: a document transformed twice shows n + 2
  up: (d) => { d.n = d.n + 1; },
  down: (d) => { d.n = d.n - 1; },
});
`;
const ID = '20261120-soak';

export interface TrialResult {
  readonly seed: number;
  readonly docs: number;
  /** the kill hit a backfill that had started but not finished (0 < migrated < docs) */
  readonly killedMidRun: boolean;
  /** documents at the new version when the kill landed */
  readonly migratedAtKill: number;
  readonly appWrites: number;
  readonly lostWrites: number;
  readonly doubleTransforms: number;
  readonly leftBehind: number;
  readonly verifyFailures: number;
  readonly rollbackMismatches: number;
  /** CLI steps that exited non-zero, with what they said */
  readonly runFailures: readonly string[];
}

export function failed(r: TrialResult): boolean {
  return (
    r.lostWrites + r.doubleTransforms + r.leftBehind + r.verifyFailures + r.rollbackMismatches >
      0 || r.runFailures.length > 0
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (i: number) => userDoc(i)._id as string;

async function readAll(url: string): Promise<Map<string, Doc>> {
  const store = await openStore(url);
  try {
    return await allDocs(store);
  } finally {
    await store.close();
  }
}

/**
 * What is wrong with a `verify --full --json` report, or null. Verify compares each document
 * with up(its journalled before-image), so a document the application changed AFTER the
 * backfill wrote it is reported as drift, by design: here that drift must be on `note` only,
 * on keys the application wrote, showing the application's last note. Anything else (missing,
 * extra, old version, another path, a failed check) is a failure.
 */
export function verifyProblem(
  code: number | null,
  stdout: string,
  docs: number,
  acknowledged: ReadonlyMap<string, string>,
): string | null {
  let r: VerifyReport;
  try {
    r = JSON.parse(stdout.slice(stdout.search(/^\{/m))) as VerifyReport;
  } catch {
    return `exit ${code}, no JSON report: ${stdout.slice(-300)}`;
  }
  const bad = (['missing', 'extra', 'oldVersion', 'invariantFailures', 'schemaFailures'] as const)
    .filter((k) => r[k] !== 0)
    .map((k) => `${k} ${r[k]}`);
  if (r.compared !== docs) bad.push(`compared ${r.compared} of ${docs}`);
  const paths = Object.keys(r.paths).filter((p) => p !== 'note');
  if (paths.length > 0) bad.push(`drift on ${paths.join(', ')}`);
  if (r.mismatched > acknowledged.size)
    bad.push(`${r.mismatched} mismatched, more than the ${acknowledged.size} keys the app wrote`);
  for (const m of r.samples.mismatched) {
    const note = m.diffs.find((d) => d.path === '/note')?.actual;
    if (acknowledged.get(m.key) !== note) bad.push(`${m.key}: note ${JSON.stringify(note)}`);
  }
  if ((code === 0) !== (r.mismatched === 0)) bad.push(`exit ${code} with ${r.mismatched} drift`);
  return bad.length === 0 ? null : bad.join('; ');
}

export async function runTrial(store: SoakStore, seed: number): Promise<TrialResult> {
  const rand = seededRandom(seed);
  const docs = 500 + Math.floor(rand() * 1500);
  const partitions = 2 + Math.floor(rand() * 7);
  // the run takes about docs / rate seconds once under way
  const killAfterMs = Math.floor(rand() * (docs / 1.5));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sy-soak-${store.name}-`));
  const runFailures: string[] = [];
  try {
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(path.join(dir, 'migrations', `${ID}.mjs`), SOAK_MIGRATION);
    const url = await store.reset(dir);
    const seeded = await openStore(url);
    await seedUsers(seeded, docs);
    await seeded.close();
    const cli = (args: string[]): CliProcess =>
      spawnCli(['--store', url, '--migrations', path.join(dir, 'migrations'), ...args], dir);
    const step = async (name: string, args: string[]): Promise<number | null> => {
      const p = cli(args);
      const code = await p.exited;
      if (code !== 0)
        runFailures.push(`${name} exited ${code}: ${(p.stderr() + p.stdout()).trim().slice(-600)}`);
      return code;
    };

    // the application: writes `note` on random keys for as long as the backfill runs
    const app = await store.writer(url);
    const acknowledged = new Map<string, string>();
    let writing = true;
    let appWrites = 0;
    const writerDone = (async () => {
      for (let seq = 0; writing; seq++) {
        const key = keyOf(Math.floor(rand() * docs));
        const note = `app-${seq}`;
        if (await app.write(key, note)) {
          acknowledged.set(key, note);
          appWrites += 1;
        }
        await sleep(1);
      }
    })();

    const args = ['--json', 'backfill', ID, '--batch-size', '50', '--rate', '1500'];
    const victim = cli([...args, '--partitions', String(partitions)]);
    // under way once its start line is out (start-up time varies); then a random moment
    let ended = false;
    void victim.exited.then(() => (ended = true));
    while (!ended && !/"event":"start"/.test(victim.stdout())) await sleep(5);
    if (store.timeKillFromFirstWrite === true)
      while (!ended && ![...(await readAll(url)).values()].some((d) => d._sv === 2))
        await sleep(50);
    await Promise.race([sleep(killAfterMs), victim.exited]);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const atKill = [...(await readAll(url)).values()].filter((d) => d._sv === 2).length;
    const killedMidRun = atKill > 0 && atKill < docs;

    await step('resumed backfill', args);
    writing = false;
    await writerDone;
    await app.close();

    const after = await readAll(url);
    let lostWrites = 0;
    let doubleTransforms = 0;
    let leftBehind = 0;
    for (let i = 0; i < docs; i++) {
      const d = after.get(keyOf(i));
      const note = acknowledged.get(keyOf(i)) ?? 'initial';
      if (d === undefined || d.note !== note) lostWrites += 1;
      if (d === undefined || d._sv !== 2) leftBehind += 1;
      else if (d.n !== i + 1) doubleTransforms += 1;
    }

    const verifier = cli(['--json', 'verify', ID, '--full']);
    const verifyCode = await verifier.exited;
    const problem = verifyProblem(verifyCode, verifier.stdout(), docs, acknowledged);
    if (problem !== null) runFailures.push(`verify --full: ${problem}`);
    const verifyFailures = problem === null ? 0 : 1;
    await step('rollback', ['--json', 'rollback', ID, '--reason', 'soak']);
    const back = await readAll(url);
    let rollbackMismatches = 0;
    for (let i = 0; i < docs; i++) {
      const d = back.get(keyOf(i));
      const note = acknowledged.get(keyOf(i));
      const want = { ...userDoc(i), note: note ?? 'initial' };
      if (d === undefined) rollbackMismatches += 1;
      else if (
        note === undefined
          ? !canonicalEquals(d, want)
          : !canonicalEquals(d, want) && !canonicalEquals(d, { ...want, _sv: 1 })
      )
        rollbackMismatches += 1;
      if (d !== undefined && d.note !== (note ?? 'initial')) lostWrites += 1;
    }
    return {
      seed,
      docs,
      killedMidRun,
      migratedAtKill: atKill,
      appWrites,
      lostWrites,
      doubleTransforms,
      leftBehind,
      verifyFailures,
      rollbackMismatches,
      runFailures,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
