/**
 * `switchyard backfill --alert-webhook` as real processes (`node bin/switchyard.js`), against a
 * real HTTP receiver on 127.0.0.1: a guard trip, a dead-letter threshold, a worker killed with
 * SIGKILL whose partition another worker takes over, a receiver that is down or answers 500
 * (the job's exit code does not change), and no store password in any alert (a real Redis with
 * a password).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import { seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import {
  freePort,
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
} from '../support/redis-server.js';
import { startReceiver, type Receiver } from './alert-receiver.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** up() throws for every 5th document: a 20% error rate */
const FLAKY = `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'users',
  up: (d) => { if (d.n % 5 === 0) throw new Error('bad row ' + d.n); d.ok = true; },
});
`;
const SPLIT = `import { defineMigration, splitField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [splitField('name', ['first', 'last'], ' ')] });
`;

let dir: string;
let db: string;
const receivers: Receiver[] = [];
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = tempDir('sy-alertproc-');
  db = path.join(dir, 'data.db');
  // two projects' migrations (both start at version 1 of users: one directory each)
  for (const [sub, file, text] of [
    ['flaky', '20261120-flaky.mjs', FLAKY],
    ['split', '20261120-split.mjs', SPLIT],
  ] as const) {
    fs.mkdirSync(path.join(dir, sub));
    fs.writeFileSync(path.join(dir, sub, file), text);
  }
});
afterEach(async () => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of receivers.splice(0)) await r.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

type Worker = ChildProcess & { output: string; stderrText: string };

function start(args: string[], store = `sqlite:${db}`): Worker {
  const migrations = path.join(dir, args[1]!); // the migration named after the command
  const child = spawn(
    process.execPath,
    [
      path.join(root, 'bin/switchyard.js'),
      '--store',
      store,
      '--migrations',
      migrations,
      '--json',
      ...args,
    ],
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ) as Worker;
  children.push(child);
  child.output = '';
  child.stderrText = '';
  child.stdout!.on('data', (b: Buffer) => (child.output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => {
    child.output += b.toString();
    child.stderrText += b.toString();
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function seed(n: number): Promise<void> {
  const s = sqliteAt(db);
  await seedUsers(s, n);
  await s.close();
}

const GUARDED = [
  'backfill',
  'flaky',
  '--guard',
  'error-rate<5%',
  '--batch-size',
  '50',
  '--partitions',
  '2',
  '--concurrency',
  '1',
];

describe('backfill --alert-webhook', () => {
  it('posts guard-tripped when the error-rate guard trips, and dead-letters past the threshold', async () => {
    await seed(2000);
    const rcv = await receiver();
    const w = start([...GUARDED, '--alert-webhook', rcv.url, '--alert-dead-letters', '10']);
    expect(await exited(w)).toBe(1); // a guard tripped
    expect(w.output).toMatch(/"outcome":"guard-tripped"/);
    const trip = await rcv.waitFor((e) => e.type === 'guard-tripped');
    expect(trip).toMatchObject({
      severity: 'critical',
      migration: '20261120-flaky',
      details: { guard: 'error-rate', limit: 5, autoRollback: false },
      source: { command: 'backfill', actor: 'ci', pid: w.pid },
    });
    expect(trip.details.value as number).toBeGreaterThan(5);
    expect(trip.message).toMatch(/guard error-rate tripped on 20261120-flaky: error rate/);
    const dl = await rcv.waitFor((e) => e.type === 'dead-letters');
    expect(dl.details.threshold).toBe(10);
    expect(dl.details.deadLetters as number).toBeGreaterThanOrEqual(10);
    // each once
    expect(rcv.events.map((e) => e.type).sort()).toEqual(['dead-letters', 'guard-tripped']);
    expect(w.stderrText).not.toMatch(/not delivered/);
  });

  it('a receiver that answers 500 or is down does not fail the job', async () => {
    await seed(1000);
    const failing = await receiver({ status: () => 500 });
    const w1 = start([...GUARDED, '--alert-webhook', failing.url]);
    const code1 = await exited(w1);
    expect(code1).toBe(1); // the guard exit code, not an alert failure
    expect(w1.output).toMatch(/"outcome":"guard-tripped"/);
    expect(failing.requests.length).toBe(4); // the first attempt and 3 retries
    expect(w1.stderrText).toMatch(
      /warning: alert guard-tripped to http:\/\/127\.0\.0\.1:\d+\/\.\.\. not delivered: the receiver answered 500 \(after 4 attempts\)/,
    );

    // resume it (without the guard, and without the default error budget: 1 in 5 documents
    // fails on purpose) with the receiver down: it finishes, exit 0
    const port = await freePort();
    const w2 = start([
      'backfill',
      'flaky',
      '--max-errors',
      'off',
      '--alert-webhook',
      `http://127.0.0.1:${port}/hook`,
      '--alert-dead-letters',
      '1',
    ]);
    expect(await exited(w2)).toBe(0);
    expect(w2.output).toMatch(/"outcome":"backfilled"/);
    expect(w2.stderrText).toMatch(/alert dead-letters to .* not delivered: ECONNREFUSED/);
  });

  it('posts worker-died when a worker killed with SIGKILL has its partition taken over', async () => {
    await seed(3000);
    const rcv = await receiver();
    const opts = [
      '--batch-size',
      '20',
      '--partitions',
      '2',
      '--concurrency',
      '1',
      '--lease-ttl',
      '3000',
    ];
    const victim = start(['backfill', 'split', '--rate', '200', ...opts]);
    // wait until it has checkpointed a batch: it holds a lease on a partition it has started
    const until = Date.now() + 60_000;
    for (;;) {
      const s = sqliteAt(db);
      let started = 0;
      try {
        started = s.database
          .prepare(
            `SELECT count(*) FROM _sy_partitions WHERE json_extract(doc, '$.pid') = ? AND json_extract(doc, '$.counts.scanned') > 0`,
          )
          .pluck()
          .get(victim.pid) as number;
      } catch {
        // the state tables do not exist yet
      }
      await s.close();
      if (started > 0) break;
      if (victim.exitCode !== null || Date.now() > until)
        throw new Error(`the worker never checkpointed: ${victim.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    victim.kill('SIGKILL');
    await exited(victim);
    const next = start(['backfill', 'split', ...opts, '--alert-webhook', rcv.url]);
    expect(await exited(next)).toBe(0);
    expect(next.output).toMatch(/"outcome":"backfilled"/);
    const died = await rcv.waitFor((e) => e.type === 'worker-died');
    expect(died).toMatchObject({
      severity: 'warning',
      migration: '20261120-split',
      details: { previousPid: victim.pid, takenOverBy: expect.stringContaining(`:${next.pid}`) },
    });
    expect(died.details.previousWorker).toContain(`:${victim.pid}`);
    expect(died.message).toMatch(/stopped renewing its lease/);
    expect(rcv.events.filter((e) => e.type === 'worker-died')).toHaveLength(1);
  });
});

const hasRedis = redisServerPath() !== null;

describe('alerts never carry a store password', () => {
  it.skipIf(!hasRedis)(
    `a guard trip and a failed job against a Redis with a password${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
    async () => {
      const server = await startRedisServer();
      try {
        const PASSWORD = 'hunter2-Sup3rSecret';
        const admin = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
        await admin.connect();
        await admin.call('CONFIG', 'SET', 'requirepass', PASSWORD);
        admin.disconnect();
        const url = `redis://:${PASSWORD}@127.0.0.1:${server.port}`;
        const store = await openStore(url);
        await seedUsers(store, 600);
        await store.close();
        const rcv = await receiver();
        const w = start([...GUARDED, '--alert-webhook', rcv.url], url);
        expect(await exited(w)).toBe(1);
        await rcv.waitFor((e) => e.type === 'guard-tripped');

        // a wrong password: the job fails (exit 3); the alert says why, without the password
        const WRONG = 'wr0ng-hunter3-Pw';
        const failed = start(
          [...GUARDED, '--alert-webhook', rcv.url],
          `redis://:${WRONG}@127.0.0.1:${server.port}`,
        );
        expect(await exited(failed)).toBe(3);
        const jf = await rcv.waitFor((e) => e.type === 'job-failed');
        expect(jf.message).toMatch(
          /cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: authentication failed \(WRONGPASS/,
        );
        expect(jf.details).toMatchObject({ command: 'backfill', error: 'E_STORE_AUTH' });
        for (const q of rcv.requests) {
          expect(q.body).not.toContain(PASSWORD);
          expect(q.body).not.toContain(WRONG);
        }
        expect(w.output + failed.output).not.toContain(PASSWORD);
      } finally {
        await server.stop();
      }
    },
  );
});
