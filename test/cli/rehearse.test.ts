/**
 * `switchyard rehearse` on SQLite and on a real redis-server: under chaos, with the backfill a
 * child process killed -9 once and resumed, the copy ends back byte for byte, the runbook's
 * numbers are the run's, and the original collection (and its store) is never written.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportDocuments } from '../../src/io/export-documents.js';
import type { RehearsalReport } from '../../src/cli/rehearse/rehearsal.js';
import { duration } from '../../src/cli/rehearse/runbook.js';
import { openStore } from '../../src/store/open-store.js';
import { seedUsers, tempDir, writeSplitNameMigration } from '../engine/backfill-fixtures.js';
import {
  NO_REDIS_REASON,
  redisOrFailInCi,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import { runCli } from './run-cli.js';

const N = 600;
const CHAOS =
  'latency=10ms..30ms,error=write:5%,error=scan:2%,throttle=3%,timeout=read:2%,timeout-after=20ms';

/** sha256 of the collection's export, and every collection of the store (state ones too) */
async function fingerprint(
  url: string,
  cwd: string,
): Promise<{ sha: string; collections: string[] }> {
  const store = await openStore(url, { baseDir: cwd });
  try {
    const hash = createHash('sha256');
    await exportDocuments(
      store.collection('users'),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
    return {
      sha: hash.digest('hex'),
      collections: await store.listCollections({ includeReserved: true }),
    };
  } finally {
    await store.close();
  }
}

/** A rehearsal under chaos against `store`, copying into `scratch`: its report and runbook. */
async function rehearseOn(dir: string, store: string, scratch: string[]) {
  const before = await fingerprint(store, dir);
  const r = await runCli(
    [
      '--json',
      '--store',
      store,
      'rehearse',
      'split-name',
      ...scratch,
      '--chaos',
      CHAOS,
      '--chaos-seed',
      '9',
      '--seed',
      '4',
      '--batch-size',
      '20',
      '--guard',
      'error-rate<50%',
      '--runbook',
      'runbook.md',
    ],
    { cwd: dir, env: { SWITCHYARD_ACTOR: 'ci' } },
  );
  expect(r.stderr).toContain('rehearsal seed 4');
  if (r.code !== 0) console.error(r.stdout, r.stderr);
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as RehearsalReport;
  const runbook = fs.readFileSync(path.join(dir, 'runbook.md'), 'utf8');
  // the original was only read: the same export, and no state collection appeared in its store
  expect(await fingerprint(store, dir)).toEqual(before);
  return { report, runbook };
}

function expectRehearsed(report: RehearsalReport, runbook: string): void {
  expect(report.ok).toBe(true);
  expect(report.steps.map((s) => `${s.step}:${s.status}`)).toEqual([
    'copy:ok',
    'plan:ok',
    'backfill:ok',
    'verify:ok',
    'rollback:ok',
    'check:ok',
  ]);
  expect(report.total).toBe(N);
  expect(report.copied).toBe(N);
  expect(report.originalBack).toBe(true);
  expect(report.exportAfter).toBe(report.exportBefore);
  // killed -9 once, mid-run, then resumed to the end
  const bf = report.backfill!;
  expect(bf.runs.map((x) => x.code)).toEqual([null, 0]);
  expect(bf.killedAtDone).toBeGreaterThanOrEqual(bf.killAt);
  expect(bf.killedAtDone).toBeLessThan(N);
  expect(report.chaos).toMatchObject({ spec: CHAOS.replaceAll(' ', ''), seed: 9 });
  expect(report.chaos!.injected.calls).toBeGreaterThan(0);
  // the runbook's numbers are the run's
  for (const s of report.steps.filter((x) => x.extrapolatedMs !== undefined)) {
    expect(runbook).toContain(`| ${s.step} | ok | ${duration(s.ms)} |`);
    expect(runbook).toContain(duration(s.extrapolatedMs!));
  }
  expect(runbook).toContain(`killed with SIGKILL at ${bf.killedAtDone} documents done`);
  expect(runbook).toContain(`under chaos \`${report.chaos!.spec}\` (seed 9`);
  expect(runbook).toContain('switchyard --store');
  expect(runbook).toMatch(/ pause 20261120-split-name --reason/);
  expect(runbook).toMatch(/ throttle 20261120-split-name --rate \d+/);
  expect(runbook).toMatch(/ rollback 20261120-split-name --reason/);
  expect(runbook).toContain('Backfill guards: --guard error-rate<50%');
  expect(runbook).toContain('## Step back a cut-over');
}

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-rehearse-');
  writeSplitNameMigration(dir);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('switchyard rehearse on SQLite', () => {
  it('under chaos, killed and resumed: the copy back exactly, the runbook from the run', async () => {
    const store = `sqlite:${path.join(dir, 'data.db')}`;
    const s = await openStore(store);
    await seedUsers(s, N);
    await s.close();
    const { report, runbook } = await rehearseOn(dir, store, []);
    expectRehearsed(report, runbook);
    expect(report.scratch).toMatch(/^sqlite:.*rehearsal\.db$/);
    // the temporary scratch is gone
    expect(fs.existsSync(report.scratch.slice('sqlite:'.length))).toBe(false);
  });

  it('refuses a scratch that is the store itself, or not empty, or bad flags: exit 2, nothing written', async () => {
    const store = `sqlite:${path.join(dir, 'data.db')}`;
    const s = await openStore(store);
    await seedUsers(s, 10);
    await s.close();
    const before = await fingerprint(store, dir);
    const run = (...args: string[]) =>
      runCli(['--store', store, 'rehearse', 'split-name', ...args], { cwd: dir });
    const same = await run('--scratch', 'sqlite:./data.db');
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('is the store of the project: a rehearsal never writes there');
    const other = await openStore(`sqlite:${path.join(dir, 'other.db')}`);
    await seedUsers(other, 1, 'orders');
    await other.close();
    const full = await run('--scratch', 'sqlite:./other.db');
    expect(full.code).toBe(2);
    expect(full.stderr).toContain('is not empty (it holds orders');
    const chaos = await run('--chaos', 'outage=half');
    expect(chaos.code).toBe(2);
    expect(chaos.stderr).toContain("--chaos 'outage=half'");
    const guard = await run('--guard', 'speed<5');
    expect(guard.code).toBe(2);
    expect(await fingerprint(store, dir)).toEqual(before);
  });
});

const hasRedis = redisOrFailInCi();

describe.skipIf(!hasRedis)(
  `switchyard rehearse on Redis${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => server?.stop());

    it('under chaos, killed and resumed, on a scratch prefix of the same server: the original untouched', async () => {
      const store = `redis://127.0.0.1:${server.port}/0?prefix=app:`;
      const s = await openStore(store);
      await seedUsers(s, N);
      await s.close();
      const scratch = `redis://127.0.0.1:${server.port}/1?prefix=rehearsal:`;
      const { report, runbook } = await rehearseOn(dir, store, ['--scratch', scratch]);
      expectRehearsed(report, runbook);
      expect(report.scratch).toBe(scratch);
    });
  },
);
