/**
 * `switchyard dashboard` as a command: bad flags are refused with exit 2 before anything is
 * opened (a non-loopback --host without a token above all), and the real process prints a URL
 * whose token opens the API, and stops cleanly on Ctrl-C.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import {
  SIMPLE_MIGRATION,
  spawnCli,
  tempDir,
  waitFor,
  writeMigrations,
} from './dashboard-fixtures.js';
import { request } from './http-client.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-dash-cli-');
  writeMigrations(dir, { '20261120-split.mjs': SIMPLE_MIGRATION });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(['--store', `sqlite:${path.join(dir, 'data.db')}`, 'dashboard', ...args], {
    cwd: dir,
    env,
  });

describe('switchyard dashboard refuses bad flags with exit 2', () => {
  it('refuses a non-loopback --host without a token, and opens nothing', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'dashboard.example']) {
      const r = await cli(['--host', host]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/field '--host'/);
      expect(r.stderr).toMatch(/not a loopback address.*token/);
      expect(r.stdout).toBe('');
    }
    // the store was never opened
    expect(fs.existsSync(path.join(dir, 'data.db'))).toBe(false);
  });

  it('refuses a short token, a bad port and a port in use', async () => {
    const short = await cli(['--token', 'abc']);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/field '--token'.*at least 16 characters/);
    const env = await cli([], { SWITCHYARD_DASHBOARD_TOKEN: 'short' });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/SWITCHYARD_DASHBOARD_TOKEN/);
    const port = await cli(['--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be a port number/);

    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const busy = (taken.address() as net.AddressInfo).port;
      const inUse = await cli(['--port', String(busy)]);
      expect(inUse.code).toBe(2);
      expect(inUse.stderr).toMatch(new RegExp(`port ${busy} on 127.0.0.1 is in use`));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

describe('switchyard dashboard as a process', () => {
  it('prints a URL with a fresh token that opens the API, and stops on SIGINT with exit 0', async () => {
    const child = spawnCli(
      [
        '--store',
        `sqlite:${path.join(dir, 'data.db')}`,
        '--migrations',
        path.join(dir, 'migrations'),
        'dashboard',
        '--port',
        '0',
      ],
      dir,
    );
    try {
      const line = await waitFor(
        'the URL line',
        () =>
          /switchyard dashboard: (http:\/\/127\.0\.0\.1:(\d+)\/#token=([A-Za-z0-9_-]+))/.exec(
            child.output(),
          ) ?? undefined,
      );
      const port = Number(line[2]);
      const token = line[3]!;
      expect(token.length).toBeGreaterThanOrEqual(32);
      // the next line of the banner may come in a later chunk of stdout than the URL line
      await waitFor('the actor line', () =>
        /controls act as/.test(child.output()) ? true : undefined,
      );
      expect(child.output()).toMatch(/controls act as dashboard:ci@/);
      expect((await request(port, 'GET', '/api/snapshot')).status).toBe(401);
      const ok = await request(port, 'GET', '/api/snapshot', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(ok.status).toBe(200);
      expect(ok.json<{ migrations: { id: string }[] }>().migrations.map((m) => m.id)).toEqual([
        '20261120-split',
      ]);
      child.child.kill('SIGINT');
      expect(await child.exited()).toBe(0);
      expect(child.output()).toMatch(/dashboard stopped/);
    } finally {
      await child.kill();
    }
  });
});
