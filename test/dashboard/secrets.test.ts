/**
 * Connection-string passwords never reach a page: a project whose data and state live on a real
 * redis-server that requires a password, a side-by-side migration whose target store URL carries
 * it, and a dead letter whose error text (as a driver might write it) contains it. Every answer
 * the dashboard gives — the page and its assets, the snapshot, the event stream, /metrics,
 * errors, control answers — and every line it logs must hold the redacted URL, never the
 * password.
 */
import fs from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { backfill } from '../../src/engine/backfill.js';
import { Project } from '../../src/project.js';
import { DeadLetters } from '../../src/state/dead-letters.js';
import { seedUsers } from '../engine/backfill-fixtures.js';
import {
  NO_REDIS_REASON,
  redisServerPath,
  startRedisServer,
  type RedisServer,
} from '../support/redis-server.js';
import {
  ensurePageBuilt,
  SIMPLE_MIGRATION,
  sideBySideMigration,
  tempDir,
  writeMigrations,
} from './dashboard-fixtures.js';
import { control, eventsNamed, readEvents, request, type Reply } from './http-client.js';

// an '@' inside: a redaction that ends the userinfo at the first '@' showed `:***@Pa55word@`
const PASSWORD = 's3cret@Pa55word';
const FRAGMENTS = [PASSWORD, 's3cret', 'Pa55word'];
const IN_PLACE = '20261120-split';
const SIDE = '20261121-profiles-v2';
const hasRedis = redisServerPath() !== null;

let redis: RedisServer;
let url: string;
let dir: string;
let project: Project;
let server: DashboardServer;
const logged: string[] = [];

describe.skipIf(!hasRedis)(
  `no password in any answer (${hasRedis ? 'redis' : NO_REDIS_REASON})`,
  () => {
    beforeAll(async () => {
      redis = await startRedisServer();
      const admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
      await admin.connect();
      await admin.call('CONFIG', 'SET', 'requirepass', PASSWORD);
      admin.disconnect();
      url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
      dir = tempDir('sy-dash-secrets-');
      const migrationsDir = writeMigrations(dir, {
        [`${IN_PLACE}.mjs`]: SIMPLE_MIGRATION,
        [`${SIDE}.mjs`]: sideBySideMigration(`${url}/1`),
      });
      project = await Project.open({ store: url, migrationsDir, cwd: dir, actor: 'ci' });
      await seedUsers(project.store, 300);
      await backfill(project, await project.migration(IN_PLACE), { batchSize: 100, partitions: 2 });
      // what a driver error could look like, kept verbatim in a dead letter
      await new DeadLetters(project.stateStore, IN_PLACE).add([
        {
          key: 'u000007',
          error: `connect ECONNREFUSED while writing to ${url}`,
          version: 1,
          at: 1,
        },
      ]);
      await ensurePageBuilt();
      server = await startDashboard({
        project,
        actor: 'dashboard:ci@test-host',
        port: 0,
        intervalMs: 300,
        log: (line) => logged.push(line),
      });
    });

    afterAll(async () => {
      await server?.close();
      await project?.close();
      await redis?.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('never shows the password, and shows the URL redacted where it belongs', async () => {
      const { port, token } = server;
      const auth = { authorization: `Bearer ${token}` };
      const replies: { what: string; body: string }[] = [];
      const keep = (what: string, r: Reply) => {
        replies.push({ what, body: r.body });
        return r;
      };

      const page = keep('page', await request(port, 'GET', '/'));
      expect(page.status).toBe(200);
      for (const asset of page.body.match(/\/assets\/[^"]+/g) ?? [])
        expect(keep(asset, await request(port, 'GET', asset)).status).toBe(200);

      // a stage change, so the side-by-side view and its audit entries carry the target
      const stage = keep(
        'stage',
        await control(port, token, SIDE, 'stage', { reason: `moving ${url}`, stage: 'dual-write' }),
      );
      expect(stage.status).toBe(200);
      keep(
        'refused stage',
        await control(port, token, SIDE, 'stage', { reason: 'jump', stage: 'complete' }),
      );
      keep('unauthorized', await control(port, null, SIDE, 'stage', { reason: 'x', stage: 'off' }));
      keep('not found', await request(port, 'GET', '/api/nothing', { headers: auth }));

      const snapshot = keep(
        'snapshot',
        await request(port, 'GET', '/api/snapshot', { headers: auth }),
      );
      expect(snapshot.status).toBe(200);
      const events = await readEvents(
        port,
        `/api/events?token=${encodeURIComponent(token)}`,
        (t) => eventsNamed(t, 'snapshot').length >= 1,
      );
      replies.push({ what: 'event stream', body: events.text });
      expect(eventsNamed(events.text, 'snapshot')).toHaveLength(1);
      const metrics = keep('metrics', await request(port, 'GET', '/metrics'));
      expect(metrics.status).toBe(200);

      for (const r of replies)
        expect({ what: r.what, leaked: FRAGMENTS.filter((f) => r.body.includes(f)) }).toEqual({
          what: r.what,
          leaked: [],
        });
      for (const f of FRAGMENTS) expect(logged.join('\n')).not.toContain(f);

      // not vacuous: the URLs were there, redacted
      const redacted = `redis://:***@127.0.0.1:${redis.port}`;
      const s = snapshot.json<{
        project: { store: string };
        migrations: {
          id: string;
          sideBySide?: { target: { store?: string } };
          deadLetters?: { samples: { error: string }[] };
          audit: { reason?: string }[];
        }[];
      }>();
      expect(s.project.store).toBe(redacted);
      const side = s.migrations.find((m) => m.id === SIDE)!;
      expect(side.sideBySide?.target.store).toBe(`${redacted}/1`);
      expect(side.audit.some((e) => e.reason === `moving ${redacted}`)).toBe(true);
      const inPlace = s.migrations.find((m) => m.id === IN_PLACE)!;
      expect(inPlace.deadLetters?.samples[0]?.error).toContain(redacted);
    });
  },
);
