/**
 * `switchyard demo --side-by-side`: a migration to a new collection while an application keeps
 * reading and writing through the runtime, on the embedded default (one SQLite file), with every
 * claim checked as it goes:
 *
 *   1. generate N users and import them; write a side-by-side migration (users -> users_v2)
 *   2. the application starts: it reads and writes users through `connect()`, non-stop
 *   3. dual-write, then the backfill copies the rest, then verify compares source and target
 *   4. shadow; 3 % of the target is changed behind Switchyard's back; `advance --auto` watches
 *      the shadow comparisons, sees the mismatches (on exactly the changed field) and steps back
 *   5. the backfill repairs the target (dual-write: it overwrites what differs); verify is clean
 *   6. shadow again; the automatic ramp goes live 5 % -> 50 % -> 100 % on passing gates
 *   7. rampdown (the application now writes the new shape; the old side gets down(doc)), complete
 *   8. the application stops: no call failed, every read returned its last write, the new side
 *      holds every write; the audit log's chain holds
 *
 * A check that does not hold stops the demo (ok: false, with the failure).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { backfill } from '../engine/backfill.js';
import { describeReport, parseGates, type GateReport } from '../engine/gates.js';
import { advance } from '../engine/ramp.js';
import { setStage, Stage } from '../engine/stages.js';
import { verify } from '../engine/verify.js';
import { importDocuments } from '../io/import-documents.js';
import { Project } from '../project.js';
import { readRuntimeWindow } from '../runtime/counters.js';
import { connect, type Yard } from '../runtime/yard.js';
import { openStore } from '../store/open-store.js';
import type { Doc } from '../core/values.js';
import { DEMO_CONFIG, DEMO_DB, DEMO_USERS_FILE, prepareDemoDir, today } from './demo-files.js';
import { DEFAULT_DEMO_SEED, writeUsersFile } from './generate-users.js';
import type { DemoNarrator, DemoStep } from './run-demo.js';

export const DEFAULT_SIDE_BY_SIDE_DOCS = 20_000;
export const SIDE_BY_SIDE_STEPS = 8;
const COLLECTION = 'users';
const TARGET = 'users_v2';
/** the application's pace: operations per second (60 % reads) */
const APP_OPS_PER_SECOND = 800;

export interface SideBySideDemoOptions {
  dir: string;
  docs?: number;
  seed?: number;
  displayDir?: string;
  narrator?: DemoNarrator;
  actor?: string;
  /** how long each ramp position is held, ms (default 3000) */
  holdMs?: number;
}

export interface SideBySideDemoSummary {
  ok: boolean;
  failure?: string;
  kind: 'side-by-side';
  dir: string;
  store: string;
  migration: string;
  docs: number;
  steps: DemoStep[];
  app?: { reads: number; writes: number; errors: number; badReads: number };
  tampered?: { count: number; paths: string[] };
  totalSeconds: number;
}

const SILENT: DemoNarrator = { step() {}, say() {}, progress() {}, progressDone() {} };

export function sideBySideMigration(id: string): string {
  return `import { defineMigration, renameField } from 'switchyard';

/**
 * ${id}: written by \`switchyard demo --side-by-side\`. The users move to a new collection,
 * users_v2, in the new shape; the old collection stays as it is until the migration completes.
 * Both steps are exact, so rampdown can write the old side with down(doc).
 */
export default defineMigration({
  collection: 'users',
  target: { collection: '${TARGET}' },
  operations: [renameField('name', 'fullName'), renameField('address.zip', 'address.postalCode')],
});
`;
}

class DemoCheckFailed extends Error {}
function check(ok: boolean, what: string): void {
  if (!ok) throw new DemoCheckFailed(what);
}

/** An application: reads and writes random users through the yard, checking every read. */
class DemoApp {
  readonly counts = { reads: 0, writes: 0, errors: 0, badReads: 0 };
  readonly expected = new Map<string, number>();
  readonly failures: string[] = [];
  #seq = 0;
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(
    readonly yard: Yard,
    readonly keys: readonly string[],
    readonly migrationId: string,
  ) {}

  start(): void {
    this.#done = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
    await this.yard.idle();
    await this.yard.publish();
  }

  async #loop(): Promise<void> {
    const users = this.yard.collection(COLLECTION);
    const pause = 1000 / APP_OPS_PER_SECOND;
    while (!this.#stop) {
      const key = this.keys[Math.floor(Math.random() * this.keys.length)]!;
      const stage = this.yard.stage(this.migrationId).stage;
      const version = stage === Stage.rampdown || stage === Stage.complete ? 2 : 1;
      try {
        if (Math.random() < 0.4) {
          // read-modify-write in the shape this stage's code uses
          const doc = await users.get(key, { readAs: version });
          if (doc !== null) {
            const seq = ++this.#seq;
            await users.put({ ...doc, demoSeq: seq } as Doc);
            this.expected.set(key, seq);
            this.counts.writes++;
          }
        } else {
          const doc = await users.get(key, { readAs: 1 });
          this.counts.reads++;
          const want = this.expected.get(key);
          if (want !== undefined && (doc === null || doc.demoSeq !== want)) {
            this.counts.badReads++;
            if (this.failures.length < 5)
              this.failures.push(`${key}: read demoSeq ${String(doc?.demoSeq)}, wrote ${want}`);
          }
        }
      } catch (err) {
        this.counts.errors++;
        if (this.failures.length < 5) this.failures.push(`${key}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

export async function runSideBySideDemo(
  options: SideBySideDemoOptions,
): Promise<SideBySideDemoSummary> {
  const started = Date.now();
  const say = options.narrator ?? SILENT;
  const dir = path.resolve(options.dir);
  const docs = options.docs ?? DEFAULT_SIDE_BY_SIDE_DOCS;
  const seed = options.seed ?? DEFAULT_DEMO_SEED;
  const holdMs = options.holdMs ?? 3000;
  const id = `${today()}-users-v2`;
  const dbFile = path.join(dir, DEMO_DB);
  const summary: SideBySideDemoSummary = {
    ok: true,
    kind: 'side-by-side',
    dir,
    store: `sqlite:${dbFile}`,
    migration: id,
    docs,
    steps: [],
    totalSeconds: 0,
  };
  const step = async (index: number, title: string, fn: () => Promise<string>) => {
    say.step(index, title);
    const t0 = Date.now();
    const current: DemoStep = { step: `${index}. ${title}`, result: '', seconds: 0 };
    summary.steps.push(current);
    try {
      current.result = await fn();
    } finally {
      say.progressDone();
      current.seconds = Math.round((Date.now() - t0) / 100) / 10;
    }
  };
  const n = (x: number) => x.toLocaleString('en-US');

  let project: Project | undefined;
  let app: DemoApp | undefined;
  try {
    await step(1, `generate ${n(docs)} users and write a side-by-side migration`, async () => {
      prepareDemoDir(dir);
      const usersFile = path.join(dir, DEMO_USERS_FILE);
      await writeUsersFile(usersFile, docs, seed);
      const store = await openStore(`sqlite:${dbFile}`);
      try {
        const r = await importDocuments(store.collection(COLLECTION), usersFile, {
          fileName: DEMO_USERS_FILE,
        });
        check(r.imported === docs, `imported ${r.imported} documents, expected ${docs}`);
      } finally {
        await store.close();
      }
      fs.writeFileSync(path.join(dir, 'switchyard.config.ts'), DEMO_CONFIG);
      fs.mkdirSync(path.join(dir, 'migrations'));
      fs.writeFileSync(path.join(dir, 'migrations', `${id}.ts`), sideBySideMigration(id));
      say.say(`Imported ${n(docs)} users into '${COLLECTION}' of ${DEMO_DB}.`);
      say.say(
        `Wrote migrations/${id}.ts: users -> ${TARGET}, renaming name -> fullName and address.zip -> address.postalCode.`,
      );
      return `${n(docs)} users, migration to ${TARGET}`;
    });
    project = await Project.open({
      cwd: dir,
      ...(options.actor !== undefined ? { actor: options.actor } : {}),
    });
    const p = project;
    const m = await p.migration(id);

    await step(2, 'start the application', async () => {
      const keys: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await p.store.collection(COLLECTION).scan({ cursor, limit: 5000 });
        for (const item of page.items) keys.push(item.key);
        cursor = page.cursor;
      } while (cursor !== null);
      const yard = await connect({ project: p, refreshMs: 100, publishMs: 250 });
      app = new DemoApp(yard, keys, id);
      app.start();
      say.say(
        `An application now reads and writes users through connect() (${APP_OPS_PER_SECOND} operations/s, 40 % writes), checking every read against its last write. It runs until step 8.`,
      );
      return 'reading and writing';
    });

    const copyAndVerify = async (why: string) => {
      const b = await backfill(p, m, {});
      check(b.outcome === 'backfilled', `backfill: ${b.message}`);
      say.say(`Backfill (${why}): ${b.message}.`);
      await app!.yard.idle();
      const v = await verify(p, m, {});
      check(
        v.ok,
        `verify found ${v.mismatched} mismatched, ${v.missing} missing, ${v.extra} extra`,
      );
      say.say(
        `Verify: the target holds up(source) for all ${n(v.compared)} keys and nothing else, while the application writes.`,
      );
      return b;
    };

    await step(3, 'dual writes, backfill, verify', async () => {
      await setStage(p, m, Stage.dualWrite, { reason: 'demo' });
      say.say(`Stage dual-write: the application writes users, then ${TARGET} = up(doc).`);
      await copyAndVerify('copies what the application has not written');
      return 'target complete and verified';
    });

    const gates = parseGates('mismatch<0.1%,errors<0.5%');
    const ramp = (steps: number[]) =>
      advance(p, m, {
        gates,
        windowMs: 30_000,
        holdMs,
        checkEveryMs: 250,
        minSamples: 200,
        steps,
        auto: true,
        readWindow: (mid, ms) => readRuntimeWindow(p.stateStore, mid, ms),
      });

    await step(4, 'tamper with 3 % of the target; the ramp steps back', async () => {
      await setStage(p, m, Stage.shadow, { reason: 'demo' });
      // 3 %: enough that the shadow reads of a few seconds are all but sure to meet some
      const count = Math.max(1, Math.floor((docs * 3) / 100));
      const db = new Database(dbFile);
      try {
        db.prepare(
          `UPDATE ${TARGET} SET doc = json_set(doc, '$.fullName', 'Tampered Name') WHERE k IN (SELECT k FROM ${TARGET} ORDER BY random() LIMIT ?)`,
        ).run(count);
      } finally {
        db.close();
      }
      say.say(
        `Stage shadow: reads are answered by users and compared with ${TARGET} in the background. Changed fullName in ${n(count)} target documents with plain SQL.`,
      );
      say.say(`advance --auto --steps 5,50,100 --gate "mismatch<0.1%,errors<0.5%" ...`);
      const r = await ramp([5, 50, 100]);
      check(r.outcome === 'stepped-back', `the ramp should have stepped back: ${r.message}`);
      const w = await readRuntimeWindow(p.stateStore, id, 60_000);
      const paths = w.paths.map((x) => x.path);
      check(
        paths.length === 1 && paths[0] === 'fullName',
        `mismatches should be on fullName only, were on ${paths.join(', ')}`,
      );
      summary.tampered = { count, paths };
      say.say(`${r.message}.`);
      say.say(`Mismatching field paths seen by the application: ${paths.join(', ')}.`);
      return `stepped back to ${r.state.stage} (${describe(r.lastReport)})`;
    });

    await step(5, 'repair the target', async () => {
      await copyAndVerify('in dual-write it overwrites what differs from up(source)');
      return 'target repaired and verified';
    });

    await step(6, 'the automatic ramp to live 100 %', async () => {
      await setStage(p, m, Stage.shadow, { reason: 'demo' });
      const r = await ramp([5, 50, 100]);
      check(r.outcome === 'done', `the ramp should have reached live 100: ${r.message}`);
      for (const c of r.changes)
        say.say(
          `gates passed -> live ${c.to.percent}% (reads of that share of keys from ${TARGET})`,
        );
      return `live ${r.state.percent}%`;
    });

    await step(7, 'rampdown and complete', async () => {
      await setStage(p, m, Stage.rampdown, { reason: 'demo' });
      say.say(
        `Stage rampdown: ${TARGET} answers and is authoritative; the application writes the new shape and users still gets down(doc), so a rollback would lose nothing.`,
      );
      await new Promise((r) => setTimeout(r, 1000));
      await setStage(p, m, Stage.complete, { reason: 'demo' });
      say.say(`Stage complete: ${TARGET} only.`);
      await new Promise((r) => setTimeout(r, 500));
      return 'complete';
    });

    await step(8, 'stop the application and check', async () => {
      const a = app!;
      app = undefined;
      await a.stop();
      await a.yard.close();
      summary.app = { ...a.counts };
      check(
        a.counts.errors === 0,
        `the application saw ${a.counts.errors} errors: ${a.failures.join('; ')}`,
      );
      check(
        a.counts.badReads === 0,
        `${a.counts.badReads} reads were stale: ${a.failures.join('; ')}`,
      );
      const target = p.store.collection(TARGET);
      const keys = [...a.expected.keys()];
      const got = await target.getMany(keys);
      const lost = keys.filter((k, i) => got[i]?.doc.demoSeq !== a.expected.get(k));
      check(lost.length === 0, `${lost.length} writes missing from ${TARGET}, e.g. ${lost[0]}`);
      const chain = await p.audit.verify();
      check(chain.ok, `the audit chain is broken at ${chain.firstBad?.seq}`);
      say.say(
        `The application made ${n(a.counts.writes)} writes and ${n(a.counts.reads)} checked reads: 0 errors, 0 stale reads; ${TARGET} holds every write. Audit chain intact (${chain.entries} entries).`,
      );
      return `${n(a.counts.writes)} writes, ${n(a.counts.reads)} reads, nothing lost`;
    });
  } catch (err) {
    summary.ok = false;
    summary.failure = (err as Error).message;
    if (!(err instanceof DemoCheckFailed)) summary.failure = `${(err as Error).stack ?? err}`;
  } finally {
    const a = app as DemoApp | undefined;
    if (a !== undefined) {
      await a.stop().catch(() => {});
      await a.yard.close().catch(() => {});
    }
    await project?.close();
    summary.totalSeconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return summary;
}

function describe(r: GateReport | undefined): string {
  return r === undefined ? 'no gate report' : describeReport(r);
}
