/**
 * AlertSink against a real HTTP receiver on 127.0.0.1, and the alerts of verify and rollback
 * through the CLI (in process). The backfill's alerts, from real worker processes, are in
 * alerts-processes.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { AlertSink, parseWebhookUrl, type AlertEvent } from '../../src/observe/alerts.js';
import { Catalog } from '../../src/state/catalog.js';
import { freePort } from '../support/redis-server.js';
import { runCli } from '../cli/run-cli.js';
import { seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { startReceiver, type Receiver } from './alert-receiver.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

function sink(url: string, extra: Partial<ConstructorParameters<typeof AlertSink>[0]> = {}) {
  const errors: string[] = [];
  const s = new AlertSink({
    url: parseWebhookUrl(url),
    source: { command: 'test' },
    backoffMs: 20,
    onError: (err, e) => errors.push(`${e.type}: ${err.message}`),
    ...extra,
  });
  return { s, errors };
}

describe('AlertSink', () => {
  it('posts each event as JSON, in order, with no password in the body', async () => {
    const r = await receiver();
    const { s, errors } = sink(r.url.replace('http://', 'http://hook:s3cret@'));
    s.send({
      type: 'job-failed',
      migration: 'm1',
      message: 'cannot connect to redis://app:hunter2@db.internal:6379/0',
      details: { url: 'mongodb://root:hunter2@h/db?password=hunter2&x=1', n: 3 },
    });
    s.send({ type: 'gate-failed', migration: 'm1', message: 'mismatch rate 2% over 1%' });
    const stats = await s.close();
    expect(stats).toEqual({ delivered: 2, failed: 0, dropped: 0 });
    expect(errors).toEqual([]);
    expect(r.events.map((e) => e.type)).toEqual(['job-failed', 'gate-failed']);
    const first = r.events[0]!;
    expect(first).toMatchObject({
      type: 'job-failed',
      severity: 'critical',
      migration: 'm1',
      message: 'cannot connect to redis://app:***@db.internal:6379/0',
      details: { url: 'mongodb://root:***@h/db?password=***&x=1', n: 3 },
      source: { command: 'test', pid: process.pid },
    });
    expect(Date.parse(first.at)).toBeGreaterThan(Date.now() - 60_000);
    for (const q of r.requests) {
      expect(q.method).toBe('POST');
      expect(q.path).toBe('/hook');
      expect(q.headers['content-type']).toBe('application/json');
      expect(q.body).not.toContain('hunter2');
      // the webhook's own credentials go in a header, not the URL
      expect(q.headers.authorization).toBe(
        `Basic ${Buffer.from('hook:s3cret').toString('base64')}`,
      );
    }
  });

  it('retries a 500 with back-off, and delivers once the receiver recovers', async () => {
    const r = await receiver({ status: (n) => (n < 2 ? 500 : 200) });
    const { s } = sink(r.url);
    s.send({ type: 'worker-died', migration: 'm', message: 'w1 died' });
    expect(await s.close()).toEqual({ delivered: 1, failed: 0, dropped: 0 });
    expect(r.requests.map((q) => q.status)).toEqual([500, 500, 200]);
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1); // the same event each time
  });

  it('gives up after the retries, and does not retry a 400; send and close never throw', async () => {
    const r = await receiver({ status: (n) => (n < 4 ? 503 : 400) });
    const { s, errors } = sink(r.url, { retries: 3 });
    s.send({ type: 'a', migration: null, message: 'x' });
    s.send({ type: 'b', migration: null, message: 'y' });
    expect(await s.close()).toEqual({ delivered: 0, failed: 2, dropped: 0 });
    expect(r.requests.map((q) => q.status)).toEqual([503, 503, 503, 503, 400]);
    expect(errors).toEqual([
      'a: the receiver answered 503 (after 4 attempts)',
      'b: the receiver answered 400',
    ]);
  });

  it('a receiver that is down: close() resolves, the failure is reported', async () => {
    const port = await freePort(); // nothing listens there
    const { s, errors } = sink(`http://127.0.0.1:${port}/hook`, { retries: 2 });
    s.send({ type: 'guard-tripped', migration: 'm', message: 'x' });
    expect(await s.close()).toEqual({ delivered: 0, failed: 1, dropped: 0 });
    expect(errors[0]).toMatch(/^guard-tripped: ECONNREFUSED \(after 3 attempts\)$/);
  });

  it('a receiver that hangs: each attempt times out, and close() stops waiting at its deadline', async () => {
    const r = await receiver({ hang: true });
    const { s, errors } = sink(r.url, { timeoutMs: 200, retries: 1 });
    s.send({ type: 'a', migration: null, message: 'x' });
    expect(await s.close()).toEqual({ delivered: 0, failed: 1, dropped: 0 });
    expect(errors).toEqual(['a: no answer within 200 ms (after 2 attempts)']);
    expect(r.requests).toHaveLength(2);

    const slow = sink(r.url, { timeoutMs: 60_000 });
    slow.s.send({ type: 'b', migration: null, message: 'y' });
    const started = Date.now();
    expect(await slow.s.close(300)).toEqual({ delivered: 0, failed: 1, dropped: 0 });
    expect(Date.now() - started).toBeLessThan(20_000); // not the 60 s timeout
    expect(slow.errors).toEqual(['b: not delivered before the command ended']);
  });

  it('keeps at most maxQueue events waiting, dropping the oldest', async () => {
    const r = await receiver();
    const { s, errors } = sink(r.url, { maxQueue: 2 });
    for (const type of ['e1', 'e2', 'e3', 'e4']) s.send({ type, migration: null, message: type });
    const stats = await s.close();
    // e1 is in flight at once; e2 waits and is pushed out by e4
    expect(stats).toEqual({ delivered: 3, failed: 0, dropped: 1 });
    expect(r.events.map((e: AlertEvent) => e.type)).toEqual(['e1', 'e3', 'e4']);
    expect(errors).toEqual(['e2: alert queue full: event dropped']);
  });
});

describe('parseWebhookUrl', () => {
  it('takes http and https URLs and refuses anything else, naming the flag', () => {
    expect(parseWebhookUrl('https://hooks.example.com/T0/B1?x=1').host).toBe('hooks.example.com');
    expect(parseWebhookUrl('http://127.0.0.1:9/h').port).toBe('9');
    for (const bad of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'not a url',
      '',
      'javascript:alert(1)',
    ])
      expect(() => parseWebhookUrl(bad)).toThrow(UsageError);
    try {
      parseWebhookUrl('redis://u:topsecret@h:1');
    } catch (err) {
      expect((err as UsageError).field).toBe('--alert-webhook');
      expect((err as Error).message).toMatch(
        /--alert-webhook must be an http:\/\/ or https:\/\/ URL/,
      );
      expect((err as Error).message).not.toContain('topsecret');
    }
  });
});

describe('alerts of the CLI commands', () => {
  let dir: string;
  let db: string;
  beforeEach(() => {
    dir = tempDir('sy-alerts-');
    db = path.join(dir, 'data.db');
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-lower.mjs'),
      `import { defineMigration, lowercase } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [lowercase('email')] });
`,
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cli = (...args: string[]) =>
    runCli(['--store', `sqlite:${db}`, '--migrations', path.join(dir, 'migrations'), ...args], {
      cwd: dir,
    });

  it('a bad --alert-webhook is a usage error (exit 2) naming the flag, and nothing runs', async () => {
    const s = sqliteAt(db);
    await seedUsers(s, 10);
    await s.close();
    for (const args of [
      ['backfill', 'lower', '--alert-webhook', 'ftp://example.com/hook'],
      ['backfill', 'lower', '--alert-webhook', 'nonsense'],
      ['verify', 'lower', '--alert-webhook', 'mailto:ops@example.com'],
      ['rollback', 'lower', '--alert-webhook', 'ws://example.com/x'],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--alert-webhook/);
    }
    const r = await cli('backfill', 'lower', '--alert-dead-letters', '5');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--alert-dead-letters needs --alert-webhook/);
    const check = sqliteAt(db);
    expect(await new Catalog(check).list()).toEqual([]); // the backfill never started
    await check.close();
  });

  it('verify alerts on drift; rollback alerts when it ends', async () => {
    const rcv = await receiver();
    const s = sqliteAt(db);
    await seedUsers(s, 300);
    expect((await cli('backfill', 'lower', '--alert-webhook', rcv.url)).code).toBe(0);
    expect((await cli('verify', 'lower', '--alert-webhook', rcv.url)).code).toBe(0);
    expect(rcv.events).toEqual([]); // nothing to alert about
    for (const key of ['u000007', 'u000070']) {
      const cur = (await s.collection('users').get(key))!;
      await s.collection('users').write([{ type: 'put', key, doc: { ...cur.doc, email: 'X@Y' } }]);
    }
    await s.close();
    expect((await cli('verify', 'lower', '--alert-webhook', rcv.url)).code).toBe(1);
    const drift = await rcv.waitFor((e) => e.type === 'verify-drift');
    expect(drift).toMatchObject({
      severity: 'critical',
      migration: '20261120-lower',
      details: { mode: 'full', compared: 300, mismatched: 2, paths: [{ path: 'email', count: 2 }] },
      source: { command: 'verify' },
    });
    expect(JSON.stringify(drift)).not.toContain('u000007'); // no keys, no values
    const rb = await cli('rollback', 'lower', '--reason', 'test', '--alert-webhook', rcv.url);
    expect(rb.code).toBe(0);
    const done = await rcv.waitFor((e) => e.type === 'rolled-back');
    expect(done).toMatchObject({
      migration: '20261120-lower',
      details: { outcome: 'rolled-back', usedJournal: true },
      source: { command: 'rollback' },
    });
    expect((done.details.restored as number) + (done.details.conflicts as number)).toBeGreaterThan(
      0,
    );
  });
});
