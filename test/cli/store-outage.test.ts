/**
 * `switchyard count` and `switchyard export` through a real redis-server outage: the server is
 * killed (kill -9, append-only file on) while the command runs and started again on the same
 * port and dir. The commands say that the server is unreachable and that they wait, then finish
 * with the whole answer: the count of every document, an export identical to one taken before.
 * In-process with the outage at a set moment (right after the store was opened), and as a real
 * child process with the kill at a random moment. Skipped without redis-server (CI: fails).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliContext } from '../../src/cli/cli-context.js';
import { countCommand } from '../../src/cli/commands/count.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open-store.js';
import type { RedisStore } from '../../src/store/redis/redis-adapter.js';
import { spawnCli } from '../support/cli-process.js';
import {
  NO_REDIS_REASON,
  startRedisServer,
  type RestartableRedisServer,
  redisOrFailInCi,
} from '../support/redis-server.js';
import { seedUsers, tempDir } from '../engine/backfill-fixtures.js';

const hasRedis = redisOrFailInCi();

const N = 20_000;

/** a stream that keeps what is written and tells `onLine` each write */
class Watched extends Writable {
  text = '';
  constructor(readonly onWrite: (text: string) => void = () => undefined) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    this.onWrite(chunk.toString());
    cb();
  }
}

/** A context whose store dies right after it was opened; it comes back once a wait is said. */
class OutageContext extends CliContext {
  constructor(
    url: string,
    cwd: string,
    readonly server: RestartableRedisServer,
  ) {
    let restarting: Promise<void> | undefined;
    const stderr = new Watched((text) => {
      if (/waiting/.test(text)) restarting ??= server.restart();
    });
    super({ stdout: new Watched(), stderr, env: {}, cwd }, { store: url });
  }
  override async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    return super.withStore(async (store) => {
      await this.server.kill9();
      return fn(store);
    });
  }
  get stdoutText(): string {
    return (this.io.stdout as Watched).text;
  }
  get stderrText(): string {
    return (this.io.stderr as Watched).text;
  }
}

describe.skipIf(!hasRedis)(
  `count and export through a redis-server outage${hasRedis ? '' : ` (skipped: ${NO_REDIS_REASON})`}`,
  () => {
    let server: RestartableRedisServer;
    let dir: string;
    let url: string;
    let reference: string;

    beforeAll(async () => {
      server = await startRedisServer({ appendonly: true });
      dir = tempDir('sy-outage-');
      url = `redis://127.0.0.1:${server.port}/0?prefix=o:`;
      const store = (await openStore(url)) as RedisStore;
      await seedUsers(store, N, 'docs');
      await store.close();
      const ctx = new CliContext(
        { stdout: new Watched(), stderr: new Watched(), env: {}, cwd: dir },
        { store: url },
      );
      expect(await exportCommand.run(ctx, ['docs'], { out: 'reference.ndjson' })).toBe(0);
      reference = fs.readFileSync(path.join(dir, 'reference.ndjson'), 'utf8');
      expect(reference.split('\n').filter(Boolean)).toHaveLength(N);
    });
    afterAll(async () => {
      await server?.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    const WAITING =
      /switchyard (count|export): redis (count|scan|read) of 'docs' in redis:\/\/127\.0\.0\.1:\d+\/0\?prefix=o: failed: the server is unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\); it may be restarting or failing over — waiting \d+( ms|\.\d s), then trying again \(attempt 1 of 12\)/;

    it('count says the server is unreachable, waits, and counts every document', async () => {
      const ctx = new OutageContext(url, dir, server);
      expect(await countCommand.run(ctx, ['docs'], {})).toBe(0);
      expect(ctx.stdoutText).toBe(`${N}\n`);
      expect(ctx.stderrText).toMatch(WAITING);
      expect(ctx.stderrText).not.toMatch(/max retries|Connection is closed/);
    });

    it('export says the server is unreachable, waits, and writes every document', async () => {
      const ctx = new OutageContext(url, dir, server);
      expect(await exportCommand.run(ctx, ['docs'], { out: 'during-outage.ndjson' })).toBe(0);
      expect(ctx.stderrText).toMatch(WAITING);
      expect(fs.readFileSync(path.join(dir, 'during-outage.ndjson'), 'utf8')).toBe(reference);
    });

    it('export as a process, redis-server killed at a random moment and restarted: the whole collection', async () => {
      const admin = (await openStore(url)) as RedisStore;
      const cli = spawnCli(['--store', url, 'export', 'docs', '--out', 'child.ndjson'], dir);
      // the export is under way once its connection has sent a scan (or a read) to the server
      for (let i = 0; i < 1000; i++) {
        const clients = String(await admin.connection.call('CLIENT', ['LIST']));
        if (/ cmd=(evalsha|eval|mget) /.test(clients)) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await admin.close();
      await new Promise((r) => setTimeout(r, Math.random() * 50));
      await server.kill9();
      // longer than the ~1 s a call waits for the connection to come back by itself
      await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1000));
      await server.restart();
      const code = await cli.exited;
      const stderr = cli.stderr();
      expect({ code, stderr }).toMatchObject({ code: 0 });
      expect(fs.readFileSync(path.join(dir, 'child.ndjson'), 'utf8')).toBe(reference);
      // not vacuous: the export saw the outage (it waited, or walked again, or both)
      expect(stderr).toMatch(/the server is unreachable|the server restarted or failed over/);
      expect(stderr).not.toMatch(/max retries|Connection is closed/);
    });
  },
);
