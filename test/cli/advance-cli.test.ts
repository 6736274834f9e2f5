/**
 * `advance` and `cutover --gate` through the CLI, judged on runtime counters in the state store
 * (published here as two application instances would), with the gate-failed alert.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LATENCY_BUCKETS_MS,
  publishSample,
  type RuntimeSample,
} from '../../src/runtime/counters.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import { startReceiver } from '../observe/alert-receiver.js';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-advance-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'ops' } });

/** what an application instance publishes after `compared` shadow reads with `mismatched` bad */
async function publish(instance: string, compared: number, mismatched: number): Promise<void> {
  const file = path.join(dir, 'switchyard.db');
  const store = new SqliteStore(file, `sqlite:${file}`);
  const side = () => {
    const latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    latency[3] = compared;
    return { reads: compared, writes: 0, errors: 0, latency };
  };
  const sample: RuntimeSample = {
    migration: '20261120-users-v2',
    instance,
    at: Date.now(),
    since: Date.now() - 1000,
    stage: 'shadow',
    percent: 0,
    old: side(),
    new: side(),
    compared,
    mismatched,
    candidateErrors: 0,
    paths: mismatched > 0 ? { fullName: mismatched } : {},
  };
  await publishSample(store, sample);
  await store.close();
}

describe('gated stage changes through the CLI', () => {
  beforeEach(async () => {
    await cli(['init']);
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-users-v2.ts'),
      `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', target: { collection: 'users_v2' }, operations: [renameField('name', 'fullName')] });\n`,
    );
    expect((await cli(['stage', 'users-v2', 'dual-write'])).code).toBe(0);
    expect((await cli(['stage', 'users-v2', 'shadow'])).code).toBe(0);
  }, 60_000);

  it('cutover --gate refuses on a breach and changes nothing; passes on clean counters', async () => {
    await publish('app-1', 400, 0);
    await publish('app-2', 400, 40);
    const refused = await cli([
      'cutover',
      'users-v2',
      '--percent',
      '5',
      '--gate',
      'mismatch<1%',
      '--min-samples',
      '10',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/not changed: the gates failed at shadow: mismatch 5%/);
    expect((await cli(['status'])).stdout).toMatch(/stage shadow/);
    expect(
      (
        await cli([
          'cutover',
          'users-v2',
          '--percent',
          '5',
          '--gate',
          'mismatch<10%',
          '--min-samples',
          '10',
        ])
      ).stdout,
    ).toMatch(/shadow -> live 5%/);
    expect((await cli(['cutover', 'users-v2', '--percent', '5', '--gate', 'nope'])).code).toBe(2);
  }, 60_000);

  it("the config's block thresholds are the gates of cutover and advance; --gate overrides them", async () => {
    /** the config: the default store, these thresholds */
    const config = (thresholds: object[]) => {
      fs.rmSync(path.join(dir, 'switchyard.config.ts'), { force: true });
      fs.writeFileSync(path.join(dir, 'switchyard.config.json'), JSON.stringify({ thresholds }));
    };
    const mismatchAbove = (above: number) => ({
      metric: 'shadowMismatchRate',
      above,
      action: 'block',
    });
    await publish('app-1', 400, 0);
    await publish('app-2', 400, 40); // 5% mismatched
    const cutover = (...more: string[]) =>
      cli(['cutover', 'users-v2', '--percent', '5', '--min-samples', '10', ...more]);
    // a block threshold at 1%: refused without any --gate, nothing changed
    config([mismatchAbove(0.01), { metric: 'errorRate', above: 0, action: 'pause' }]);
    const refused = await cutover();
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/not changed: the gates failed at shadow: mismatch 5% \(<=1%\)/);
    expect((await cli(['status'])).stdout).toMatch(/stage shadow/);
    // advance too: the same gate, a step back
    const stepped = await cli(['advance', 'users-v2', '--hold', '1s', '--min-samples', '10']);
    expect(stepped.code).toBe(1);
    expect(stepped.stdout).toMatch(
      /gate failed at shadow; stepped back to dual-write: mismatch 5%/,
    );
    expect((await cli(['stage', 'users-v2', 'shadow'])).code).toBe(0);
    await publish('app-1', 400, 0);
    await publish('app-2', 400, 40);
    // --gate is the shorthand for this run: written `<`, it blocks AT 5% too
    expect((await cutover('--gate', 'mismatch<5%')).code).toBe(1);
    // a threshold fires strictly above its level: at 5%, 0.05 does not block
    config([mismatchAbove(0.05)]);
    const passed = await cutover();
    expect(passed.code, passed.stdout + passed.stderr).toBe(0);
    expect(passed.stdout).toMatch(/shadow -> live 5%/);
    // a gate metric with another action is bad config: exit 2, nothing changed
    config([{ ...mismatchAbove(0.01), action: 'pause' }]);
    const bad = await cli(['cutover', 'users-v2', '--percent', '25']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/thresholds\[0\]\.action/);
    config([]);
    expect((await cli(['status'])).stdout).toMatch(/stage live 5%/);
  }, 60_000);

  it('advance steps back on a failing gate, audits why, and posts gate-failed to the webhook', async () => {
    const receiver = await startReceiver();
    try {
      await publish('app-1', 500, 25);
      const r = await cli([
        'advance',
        'users-v2',
        '--auto',
        '--hold',
        '2s',
        '--window',
        '30s',
        '--min-samples',
        '10',
        '--gate',
        'mismatch<1%',
        '--alert-webhook',
        `${receiver.url}/hook`,
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/gate failed at shadow; stepped back to dual-write: mismatch 5%/);
      expect((await cli(['status'])).stdout).toMatch(/stage dual-write, last gate failed/);
      const audit = await cli(['audit', '--json']);
      expect(audit.stdout).toMatch(/"command":\s*"advance"/);
      expect(audit.stdout).toMatch(/gate failed at shadow/);
      const events = receiver.requests.map(
        (q) => JSON.parse(q.body) as { type: string; migration: string },
      );
      expect(events).toEqual([
        expect.objectContaining({ type: 'gate-failed', migration: '20261120-users-v2' }),
      ]);
      expect((await cli(['advance', 'users-v2', '--steps', '5,1'])).code).toBe(2);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
