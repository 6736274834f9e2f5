/**
 * Verify and rollback as jobs on the runner, through the real CLI, on a real SQLite file and a real
 * redis-server: `node bin/switchyard.js verify|rollback` children killed with SIGKILL at random
 * moments while they work, and three workers sharing one run with one of them killed. The result
 * must equal an uninterrupted run's: the same verify report (counts, mismatched keys, paths), and
 * after a rollback an export byte-identical to the one taken before the backfill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Partitions, type PartitionState } from '../../src/state/partitions.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { seedUsers, tempDir } from './backfill-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ID = '20261120-drop-note';
// lossy (removeField): a rollback is exact only through the journal
const MIGRATION = `import { defineMigration, lowercase, removeField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [removeField('note'), lowercase('email')] });
`;
const TAMPERED = ['u000123', 'u004321', 'u009000'];

const hasRedis = redisServerPath() !== null;
let redis: RedisServer | undefined;
beforeAll(async () => {
  if (hasRedis) redis = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

let dir: string;
let seq = 0;
beforeEach(() => {
  dir = tempDir('sy-vrproc-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${ID}.mjs`), MIGRATION);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Kind = 'sqlite' | 'redis';

interface Child extends ChildProcess {
  out: string;
  err: string;
}

function setup(kind: Kind, n: number) {
  const url =
    kind === 'sqlite'
      ? `sqlite:${path.join(dir, 'data.db')}`
      : `${redis!.url}/0?prefix=vr${process.pid}t${++seq}:`;
  const start = (...rest: string[]): Child => {
    const child = spawn(
      process.execPath,
      [
        path.join(root, 'bin/switchyard.js'),
        '--store',
        url,
        '--migrations',
        path.join(dir, 'migrations'),
        ...rest,
      ],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' } },
    ) as Child;
    child.out = '';
    child.err = '';
    child.stdout!.on('data', (b: Buffer) => (child.out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (child.err += b.toString()));
    return child;
  };
  const run = async (...rest: string[]) => {
    const child = start(...rest);
    const code = await exited(child);
    return { code, out: child.out, err: child.err };
  };
  let probe: Store | undefined;
  const store = async () => (probe ??= await openStore(url, { baseDir: dir }));
  return {
    start,
    run,
    async seed() {
      const s = await openStore(url, { baseDir: dir });
      await seedUsers(s, n);
      await s.close();
    },
    /** change the email of a few documents behind Switchyard's back (after the backfill) */
    async tamper(email: (i: number) => string = () => 'x@y.z') {
      const users = (await store()).collection('users');
      const found = await users.getMany(TAMPERED);
      await users.write(
        found.map((s) => ({
          type: 'put' as const,
          key: s!.key,
          doc: { ...s!.doc, email: email(Number(s!.key.slice(1))) },
        })),
      );
    },
    /** the partitions of a job (`#verify`, `#rollback`) */
    async partitions(job: string): Promise<PartitionState[]> {
      return new Partitions(await store()).list(`${ID}${job}`);
    },
    /** documents a job's current run has checked so far (0 while only a finished run is there) */
    async scanned(job: string): Promise<number> {
      const p = new Partitions(await store());
      const plan = await p.plan(`${ID}${job}`);
      if (plan === null || plan.finished !== undefined) return 0;
      return (await p.states(plan.partitions)).reduce((n, x) => n + x.counts.scanned, 0);
    },
    async close() {
      await probe?.close();
    },
  };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** wait until `probe` holds, or fail naming what the child said */
async function until(what: string, probe: () => Promise<boolean>, child: Child, ms = 60_000) {
  for (const end = Date.now() + ms; ;) {
    if (await probe()) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what}: the process exited (${child.exitCode}): ${child.err}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${child.err}`);
    await sleep(50);
  }
}

const report = (out: string) => {
  const { elapsedSeconds: _e, ...r } = JSON.parse(out) as Record<string, unknown>;
  return r;
};

const available = (k: Kind) => k === 'sqlite' || hasRedis || process.env.CI !== undefined;

for (const kind of ['sqlite', 'redis'] as const) {
  const N = kind === 'sqlite' ? 20_000 : 10_000;
  const skipped = available(kind) ? '' : ` (skipped: ${NO_REDIS_REASON})`;

  describe.skipIf(!available(kind))(`${kind}: verify and rollback as processes${skipped}`, () => {
    it('verify killed with kill -9 at random moments resumes from its checkpoints and reports what an uninterrupted verify does', async () => {
      const s = setup(kind, N);
      await s.seed();
      expect((await s.run('backfill', ID, '--batch-size', '1000')).code).toBe(0);
      await s.tamper();
      const flags = ['--partitions', '8', '--batch-size', '200'];
      const whole = await s.run('verify', ID, '--json', ...flags);
      expect(whole.code, whole.err).toBe(1);
      const want = report(whole.out);
      expect(want).toMatchObject({ ok: false, compared: N, mismatched: 3, paths: { email: 3 } });

      let last = 0;
      for (let kill = 0; kill < 3; kill++) {
        const child = s.start('verify', ID, ...flags, '--rate', String(N / 4));
        // killed while it works: after it checkpointed a page of its own, at a random moment
        await until(
          'the verify to checkpoint',
          async () => (await s.scanned('#verify')) > last,
          child,
        );
        await sleep(Math.random() * 400);
        expect(child.exitCode).toBeNull();
        child.kill('SIGKILL');
        await exited(child);
        const now = await s.scanned('#verify');
        expect(now).toBeGreaterThan(last); // every run added to the same partitions: resumed
        last = now;
      }
      expect(last).toBeLessThan(2 * N); // data and journal: the kills really interrupted it
      const resumed = await s.run('verify', ID, '--json', ...flags);
      expect(resumed.code, resumed.err).toBe(1);
      expect(report(resumed.out)).toEqual(want);
      await s.close();
    }, 180_000);

    it('rollback killed with kill -9 at random moments still restores exactly: the export equals the one before the backfill', async () => {
      const s = setup(kind, N);
      await s.seed();
      const before = await s.run('export', 'users');
      expect(before.code).toBe(0);
      expect((await s.run('backfill', ID, '--batch-size', '1000')).code).toBe(0);
      expect((await s.run('export', 'users')).out).not.toBe(before.out);

      let last = 0;
      for (let kill = 0; kill < 3; kill++) {
        const child = s.start(
          'rollback',
          ID,
          '--partitions',
          '8',
          '--batch-size',
          '200',
          '--rate',
          String(N / 4),
        );
        await until(
          'the rollback to checkpoint',
          async () => (await s.scanned('#rollback')) > last,
          child,
        );
        await sleep(Math.random() * 400);
        expect(child.exitCode).toBeNull();
        child.kill('SIGKILL');
        await exited(child);
        last = await s.scanned('#rollback');
      }
      expect(last).toBeLessThan(N);
      const done = await s.run('rollback', ID, '--reason', 'test', '--json');
      expect(done.code, done.err).toBe(0);
      const result = JSON.parse(done.out.trim().split('\n').pop()!) as Record<string, number>;
      expect(result).toMatchObject({ outcome: 'rolled-back', conflicts: 0, downcast: 0 });
      expect(result.restored! + result.untouched!).toBe(N);
      expect((await s.run('export', 'users')).out).toBe(before.out);
      const audit = await s.run('audit', '--verify');
      expect(audit.code, audit.out).toBe(0);
      await s.close();
    }, 180_000);

    it('three workers share a verify and then a rollback; one is killed each time; the others finish its partitions', async () => {
      const s = setup(kind, N);
      await s.seed();
      const before = await s.run('export', 'users');
      expect((await s.run('backfill', ID, '--batch-size', '1000')).code).toBe(0);
      await s.tamper();
      // an uninterrupted verify of one worker, split the same way (the divergent ranges are named)
      const want = report((await s.run('verify', ID, '--json', '--partitions', '24')).out);

      const shared = async (job: 'verify' | 'rollback', extra: string[]) => {
        const workers = [1, 2, 3].map((i) =>
          s.start(
            job,
            ID,
            '--worker-id',
            `w${i}`,
            '--partitions',
            '24',
            '--rate',
            String(Math.round(N / 6)),
            ...extra,
          ),
        );
        const victim = workers[1]!;
        await until(
          'w2 to hold a lease',
          async () =>
            (await s.partitions(`#${job}`)).some(
              (p) => p.owner === 'w2' && !p.done && p.counts.scanned > 0,
            ),
          victim,
        );
        victim.kill('SIGKILL');
        await exited(victim);
        const rest = workers.filter((w) => w !== victim);
        const codes = await Promise.all(rest.map(exited));
        const states = await s.partitions(`#${job}`);
        expect(states.every((p) => p.done)).toBe(true);
        // a partition the victim held changed hands: its fencing token went up again
        expect(Math.max(...states.map((p) => p.token))).toBeGreaterThanOrEqual(2);
        return { codes, rest };
      };

      const v = await shared('verify', ['--json']);
      expect(v.codes).toEqual([1, 1]); // drift found, by both
      for (const w of v.rest) expect(report(w.out)).toEqual(want);

      // put the tampered documents back as the migration wrote them, so the export must match
      await s.tamper((i) => `user${i}@example.com`);
      const r = await shared('rollback', []);
      expect(r.codes).toEqual([0, 0]);
      expect((await s.run('export', 'users')).out).toBe(before.out);
      await s.close();
    }, 240_000);
  });
}
