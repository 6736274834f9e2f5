/**
 * The dashboard's API against a real SQLite project, in process: who may read, who may change
 * state (token, same origin, JSON, a reason), and that a refused request changes nothing — not
 * the catalog, not the audit log. Then the controls themselves: pause, resume, throttle, a stage
 * change with a stale view refused, an in-place rollback run as a job; the event stream; /metrics.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DashboardSnapshot } from '../../src/dashboard/api-types.js';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { backfill } from '../../src/engine/backfill.js';
import { recordGate } from '../../src/engine/gates.js';
import { sideBySideState } from '../../src/engine/stages.js';
import { verify } from '../../src/engine/verify.js';
import type { Project } from '../../src/project.js';
import { LATENCY_BUCKETS_MS, publishSample } from '../../src/runtime/counters.js';
import { RepairQueue } from '../../src/runtime/repair-queue.js';
import { seedUsers } from '../engine/backfill-fixtures.js';
import {
  openSqliteProject,
  SIMPLE_MIGRATION,
  sideBySideMigration,
  tempDir,
  waitFor,
} from './dashboard-fixtures.js';
import { control, eventsNamed, readEvents, request } from './http-client.js';

const IN_PLACE = '20261120-split';
const SIDE = '20261121-users-v2';
const ACTOR = 'dashboard:ci@test-host';

let dir: string;
let project: Project;
let server: DashboardServer;
let port: number;
let token: string;
const logged: string[] = [];

beforeAll(async () => {
  dir = tempDir('sy-dash-api-');
  project = await openSqliteProject(dir, {
    [`${IN_PLACE}.mjs`]: SIMPLE_MIGRATION,
    [`${SIDE}.mjs`]: sideBySideMigration(),
  });
  await seedUsers(project.store, 2000);
  // a backfill stopped after its first batches: running as far as the catalog knows
  const m = await project.migration(IN_PLACE);
  const stop = new AbortController();
  let batches = 0;
  await backfill(project, m, {
    batchSize: 100,
    partitions: 4,
    concurrency: 1,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'batch' && ++batches === 3) stop.abort();
    },
  });
  expect((await project.catalog.get(IN_PLACE))?.status).toBe('backfilling');
  server = await startDashboard({
    project,
    actor: ACTOR,
    port: 0,
    intervalMs: 300,
    log: (line) => logged.push(line),
  });
  port = server.port;
  token = server.token;
});

afterAll(async () => {
  await server?.close();
  await project?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** the state a refused request must leave as it was: the catalog entries and the audit log */
async function stateNow(): Promise<string> {
  return JSON.stringify({
    catalog: await project.catalog.list(),
    audit: await project.audit.entries(),
  });
}

describe('refused requests change nothing', () => {
  it('answers 401 without the right token, 403 from another origin, and leaves catalog and audit log as they were', async () => {
    const before = await stateNow();
    const body = { reason: 'should not happen' };
    const cases: { what: string; status: number; send: () => ReturnType<typeof control> }[] = [
      { what: 'no token', status: 401, send: () => control(port, null, IN_PLACE, 'pause', body) },
      {
        what: 'a wrong token',
        status: 401,
        send: () => control(port, `${token}x`, IN_PLACE, 'pause', body),
      },
      {
        what: 'the token in the query (accepted for GET only)',
        status: 401,
        send: () =>
          request(port, 'POST', `/api/migrations/${IN_PLACE}/pause?token=${token}`, {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          }),
      },
      {
        what: 'a foreign Origin, with the token',
        status: 403,
        send: () =>
          control(port, token, IN_PLACE, 'pause', body, {
            origin: 'http://evil.example',
            'sec-fetch-site': 'cross-site',
          }),
      },
      {
        what: 'a foreign Origin without Sec-Fetch-Site',
        status: 403,
        send: () =>
          control(port, token, IN_PLACE, 'pause', body, { origin: 'http://evil.example' }),
      },
      {
        what: 'Sec-Fetch-Site same-site (another port or subdomain)',
        status: 403,
        send: () =>
          control(port, token, IN_PLACE, 'pause', body, { 'sec-fetch-site': 'same-site' }),
      },
      {
        what: 'Origin null (a sandboxed frame, a file)',
        status: 403,
        send: () => control(port, token, IN_PLACE, 'pause', body, { origin: 'null' }),
      },
      {
        what: 'a form post (text/plain)',
        status: 415,
        send: () => control(port, token, IN_PLACE, 'pause', body, { 'content-type': 'text/plain' }),
      },
      {
        what: 'no reason',
        status: 400,
        send: () => control(port, token, IN_PLACE, 'pause', {}),
      },
      {
        what: 'an unknown field',
        status: 400,
        send: () => control(port, token, IN_PLACE, 'pause', { reason: 'x', force: true }),
      },
      {
        what: 'a rebinding Host',
        status: 421,
        send: () =>
          control(port, token, IN_PLACE, 'pause', body, {
            host: `evil.example:${port}`,
            origin: `http://evil.example:${port}`,
          }),
      },
      {
        what: 'GET on a control',
        status: 405,
        send: () =>
          request(port, 'GET', `/api/migrations/${IN_PLACE}/pause`, {
            headers: { authorization: `Bearer ${token}` },
          }),
      },
    ];
    for (const c of cases) {
      const r = await c.send();
      expect({ what: c.what, status: r.status }).toEqual({ what: c.what, status: c.status });
      expect(r.json<{ ok: boolean }>().ok).toBe(false);
    }
    expect(await stateNow()).toBe(before);
    expect((await project.catalog.get(IN_PLACE))?.status).toBe('backfilling');
    // refusals are logged on the dashboard's side, without the token
    expect(logged.some((l) => /refused POST .*: a token is required/.test(l))).toBe(true);
    expect(logged.join('\n')).not.toContain(token);
  });

  it('answers 413 with a JSON error to a body over 16 KiB, with or without Content-Length, changing nothing', async () => {
    const before = await stateNow();
    const reasonOf = (bytes: number) => JSON.stringify({ reason: 'x'.repeat(bytes) });
    const cases = [
      { what: '1 MiB, Content-Length', body: reasonOf(1 << 20), length: true },
      { what: '100 KiB, chunked', body: reasonOf(100 << 10), length: false },
      { what: '20 MiB, chunked', body: reasonOf(20 << 20), length: false },
      { what: 'one byte over', body: reasonOf(16 * 1024 - 12), length: true },
    ];
    for (const c of cases) {
      expect(Buffer.byteLength(c.body)).toBeGreaterThan(16 * 1024);
      const r = await control(
        port,
        token,
        IN_PLACE,
        'pause',
        undefined,
        {
          ...(c.length ? { 'content-length': String(Buffer.byteLength(c.body)) } : {}),
        },
        c.body,
      );
      expect({ what: c.what, status: r.status, type: r.headers['content-type'] }).toEqual({
        what: c.what,
        status: 413,
        type: 'application/json; charset=utf-8',
      });
      expect(r.json()).toEqual({
        ok: false,
        status: 413,
        message: 'the body is larger than 16384 bytes',
      });
    }
    expect(await stateNow()).toEqual(before);
    // the server still answers, on a body that fits
    const fits = await control(port, token, IN_PLACE, 'throttle', { reason: 'r'.repeat(15_000) });
    expect(fits.status).not.toBe(413);
  });

  it('answers 401 to reads without the token, and takes it from the header or the query', async () => {
    expect((await request(port, 'GET', '/api/snapshot')).status).toBe(401);
    expect((await request(port, 'GET', '/api/snapshot?token=nope')).status).toBe(401);
    expect((await request(port, 'GET', '/api/events')).status).toBe(401);
    const r = await request(port, 'GET', `/api/snapshot?token=${encodeURIComponent(token)}`);
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['content-security-policy']).toMatch(/default-src 'none'/);
    const h = await request(port, 'GET', '/api/snapshot', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(h.status).toBe(200);
  });
});

describe('the snapshot and the event stream', () => {
  it('shows both migrations with what the state store knows', async () => {
    const s = (
      await request(port, 'GET', '/api/snapshot', {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json<DashboardSnapshot>();
    expect(s.project.actor).toBe(ACTOR);
    const inPlace = s.migrations.find((m) => m.id === IN_PLACE)!;
    expect(inPlace).toMatchObject({
      kind: 'in-place',
      status: 'backfilling',
      from: 1,
      to: 2,
      fileMissing: false,
    });
    expect(inPlace.partitions).toHaveLength(4);
    expect(inPlace.partitions.reduce((n, p) => n + p.scanned, 0)).toBe(300);
    expect(inPlace.progress?.total).toBe(2000);
    expect(inPlace.lastAction?.command).toBe('backfill');
    expect(inPlace.startedWith).toMatchObject({ batchSize: 100, concurrency: 1 });
    expect(inPlace.deadLetters?.count).toBe(0);
    const side = s.migrations.find((m) => m.id === SIDE)!;
    expect(side).toMatchObject({ kind: 'side-by-side', status: 'pending' });
    expect(side.sideBySide).toMatchObject({
      stage: 'off',
      next: { stage: 'dual-write', needsPercent: false },
      back: { refused: expect.stringMatching(/nothing to roll back/) },
    });
    expect(s.audit.chain.ok).toBe(true);
  });

  it('streams history and snapshots on one connection', async () => {
    const { status, text } = await readEvents(
      port,
      `/api/events?token=${encodeURIComponent(token)}`,
      (t) => eventsNamed(t, 'snapshot').length >= 1,
    );
    expect(status).toBe(200);
    expect(text).toMatch(/^retry: 2000\n\n/);
    expect(eventsNamed(text, 'history')).toHaveLength(1);
    const [snap] = eventsNamed(text, 'snapshot') as DashboardSnapshot[];
    expect(snap!.migrations.map((m) => m.id).sort()).toEqual([IN_PLACE, SIDE]);
  });
});

describe('controls, as the CLI makes them', () => {
  it('pauses, resumes and throttles, each audited as the dashboard with the reason', async () => {
    const paused = await control(port, token, IN_PLACE, 'pause', { reason: 'peak traffic' });
    expect(paused.status).toBe(200);
    let entry = (await project.catalog.get(IN_PLACE))!;
    expect(entry.status).toBe('paused');
    expect(entry.control).toMatchObject({ paused: true, by: ACTOR, reason: 'peak traffic' });
    let last = (await project.audit.entries({ limit: 1 }))[0]!;
    expect(last).toMatchObject({
      actor: ACTOR,
      command: 'pause',
      migration: IN_PLACE,
      reason: 'peak traffic',
      outcome: 'ok',
    });
    const again = await control(port, token, IN_PLACE, 'resume', { reason: 'calm' });
    expect(again.status).toBe(200);
    expect((await project.catalog.get(IN_PLACE))?.status).toBe('backfilling');
    // resuming what is not paused is refused (409), audited, and changes nothing
    const before = (await project.catalog.get(IN_PLACE))!;
    const notPaused = await control(port, token, IN_PLACE, 'resume', { reason: 'again' });
    expect(notPaused.status).toBe(409);
    expect(notPaused.json<{ message: string }>().message).toBe(
      `migration ${IN_PLACE} is backfilling, not paused: there is nothing to resume`,
    );
    expect((await project.catalog.get(IN_PLACE))!.updatedAt).toBe(before.updatedAt);
    expect((await project.audit.entries({ limit: 1 }))[0]).toMatchObject({
      actor: ACTOR,
      command: 'resume',
      reason: 'again',
      outcome: `refused: migration ${IN_PLACE} is backfilling, not paused: there is nothing to resume`,
    });
    const rate = await control(port, token, IN_PLACE, 'throttle', { reason: 'slower', rate: 1234 });
    expect(rate.status).toBe(200);
    entry = (await project.catalog.get(IN_PLACE))!;
    expect(entry.control).toMatchObject({ rate: 1234 });
    last = (await project.audit.entries({ limit: 1 }))[0]!;
    expect(last).toMatchObject({ actor: ACTOR, command: 'throttle', params: { rate: 1234 } });
    const bad = await control(port, token, IN_PLACE, 'throttle', { reason: 'x', rate: -5 });
    expect(bad.status).toBe(400);
    const none = await control(port, token, 'no-such-migration', 'pause', { reason: 'x' });
    expect(none.status).toBe(404);
  });

  it('moves a side-by-side stage, and refuses (409) a change made on a stale view', async () => {
    const seen = { stage: 'off', percent: 0 };
    const ok = await control(port, token, SIDE, 'stage', {
      reason: 'start dual writes',
      stage: 'dual-write',
      expect: seen,
    });
    expect(ok.status).toBe(200);
    expect(ok.json<{ message: string }>().message).toMatch(/off -> dual-write/);
    const entry = (await project.catalog.get(SIDE))!;
    expect(entry.sideBySide).toMatchObject({ stage: 'dual-write', by: ACTOR });

    // what the application's instances publish, a gate check and a failed write: all shown
    const now = Date.now();
    const side = (reads: number, writes: number, ms: number) => {
      const latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
      latency[LATENCY_BUCKETS_MS.findIndex((b) => b >= ms)] = reads + writes;
      return { reads, writes, errors: 0, latency };
    };
    await publishSample(project.stateStore, {
      migration: SIDE,
      instance: 'app-1',
      at: now - 1000,
      since: now - 6000,
      stage: 'dual-write',
      percent: 0,
      old: side(900, 100, 2),
      new: side(0, 100, 5),
      compared: 40,
      mismatched: 2,
      candidateErrors: 0,
      paths: { mail: 2 },
    });
    await recordGate(project.stateStore, {
      migration: SIDE,
      at: new Date(now).toISOString(),
      passed: false,
      result: 'fail',
      windowMs: 60_000,
      stage: 'dual-write',
      percent: 0,
      checks: [{ name: 'mismatch', value: 0.05, limit: '< 1%', result: 'fail', passed: false }],
    });
    await new RepairQueue(project.stateStore, SIDE).add({
      key: 'p1',
      op: 'put',
      side: 'new',
      error: 'store timeout',
    });
    const view = await waitFor('the runtime counters in the snapshot', async () => {
      const s = (
        await request(port, 'GET', '/api/snapshot', {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json<DashboardSnapshot>();
      const v = s.migrations.find((m) => m.id === SIDE)!.sideBySide!;
      return v.runtime !== null && v.runtime.old.reads > 0 && v.repairQueue > 0 ? v : undefined;
    });
    expect(view.runtime).toMatchObject({
      instances: 1,
      old: { reads: 900, writes: 100 },
      new: { reads: 0, writes: 100 },
      compared: 40,
      mismatched: 2,
      mismatchRate: 0.05,
      paths: [{ path: 'mail', count: 2 }],
    });
    expect(view.runtime!.old.p99Ms).not.toBeNull();
    expect(view.gate).toMatchObject({
      passed: false,
      result: 'fail',
      checks: [{ name: 'mismatch' }],
    });
    expect(view.repairQueue).toBe(1);
    expect(view).toMatchObject({ next: { stage: 'shadow' }, back: { stage: 'off' } });
    // another operator, still looking at "off", asks for the same move
    const stale = await control(port, token, SIDE, 'stage', {
      reason: 'looked at an old page',
      stage: 'dual-write',
      expect: seen,
    });
    expect(stale.status).toBe(409);
    expect(stale.json<{ message: string }>().message).toMatch(/moved meanwhile/);
    const jump = await control(port, token, SIDE, 'stage', { reason: 'hurry', stage: 'rampdown' });
    expect(jump.status).toBe(409);
    expect(jump.json<{ message: string }>().message).toMatch(/one at a time/);
    // rollback of a side-by-side migration steps back, like `switchyard rollback`
    const back = await control(port, token, SIDE, 'rollback', {
      reason: 'mismatches',
      expect: { stage: 'dual-write', percent: 0, changedAt: sideBySideState(entry).changedAt },
    });
    expect(back.status).toBe(200);
    expect(back.json<{ message: string }>().message).toMatch(/stepped back from dual-write to off/);
    const log = await project.audit.entries({ migration: SIDE });
    expect(log.map((e) => [e.command, e.actor, e.outcome.replace(/:.*/, '')])).toEqual([
      ['stage', ACTOR, 'ok'],
      ['stage', ACTOR, 'refused'],
      ['stage', ACTOR, 'refused'],
      ['stage', ACTOR, 'ok'],
    ]);
  });

  it('shows the last verify: counts, mismatching paths and samples with their diffs', async () => {
    // a migrated document changed behind the migration's back
    const users = project.store.collection('users');
    const page = await users.scan({ limit: 2000 });
    const migrated = page.items.find((s) => s.doc._sv === 2)!;
    await users.write([
      { type: 'put', key: migrated.key, doc: { ...migrated.doc, email: 'changed@example.com' } },
    ]);
    const report = await verify(project, await project.migration(IN_PLACE));
    expect(report).toMatchObject({ ok: false, mismatched: 1, oldVersion: 1700 });
    const v = await waitFor('the verify report in the snapshot', async () => {
      const s = (
        await request(port, 'GET', '/api/snapshot', {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json<DashboardSnapshot>();
      const x = s.migrations.find((m) => m.id === IN_PLACE)!.verify;
      return x?.last !== undefined ? x : undefined;
    });
    expect(v.last).toMatchObject({ ok: false, mode: 'full', mismatched: 1, oldVersion: 1700 });
    expect(v.paths).toEqual([{ path: 'email', count: 1 }]);
    expect(v.running).toBe(false);
    expect(v.partitions.length).toBeGreaterThan(0);
    expect(v.partitions.every((p) => p.done)).toBe(true);
    expect(v.samples.mismatched).toEqual([
      {
        key: migrated.key,
        diffs: [expect.objectContaining({ path: '/email', actual: 'changed@example.com' })],
      },
    ]);
    expect(v.samples.oldVersion.length).toBe(10);
  });

  it('runs an in-place rollback as a job of the dashboard, its progress in the snapshot', async () => {
    const r = await control(port, token, IN_PLACE, 'rollback', { reason: 'p99 regression' });
    expect([200, 202]).toContain(r.status);
    const job = r.json<{ job: { id: string } }>().job;
    expect(job.id).toBeDefined();
    const done = await waitFor('the rollback job to finish', async () => {
      const s = (
        await request(port, 'GET', '/api/snapshot', {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json<DashboardSnapshot>();
      const j = s.jobs.find((x) => x.id === job.id);
      return j !== undefined && j.state !== 'running' ? j : undefined;
    });
    expect(done).toMatchObject({ state: 'done', migration: IN_PLACE, actor: ACTOR });
    // the document changed behind the migration's back is not restored blindly
    expect(done.result).toMatchObject({ outcome: 'rolled-back', restored: 299 });
    expect((await project.catalog.get(IN_PLACE))?.status).toBe('rolled-back');
    const log = await project.audit.entries({ migration: IN_PLACE });
    expect(log.filter((e) => e.command === 'rollback').map((e) => [e.actor, e.outcome])).toEqual([
      [ACTOR, 'started'],
      [ACTOR, expect.stringMatching(/^rolled back/)],
    ]);
    // nothing left to roll back: refused by the engine, answered 409
    const again = await control(port, token, IN_PLACE, 'pause', { reason: 'x' });
    expect(again.status).toBe(409);
  });
});

describe('/metrics', () => {
  it('serves Prometheus text without a token on loopback, and refuses a rebinding Host', async () => {
    const r = await request(port, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/^# HELP switchyard_/m);
    const rebound = await request(port, 'GET', '/metrics', { headers: { host: 'evil.example' } });
    expect(rebound.status).toBe(421);
  });
});
