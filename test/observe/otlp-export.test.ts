/**
 * OpenTelemetry end to end: a real CLI backfill process, configured only by the standard
 * environment variable OTEL_EXPORTER_OTLP_ENDPOINT, sends its batch spans over OTLP/HTTP to a
 * receiver on 127.0.0.1 (this test's own HTTP server), and nothing when the variable is unset.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seedUsers, sqliteAt, writeSplitMigrationFile } from '../engine/backfill-fixtures.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/switchyard.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-otlp-'));
const received: { path: string; body: string }[] = [];
let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fs.writeFileSync(
    path.join(dir, 'switchyard.config.json'),
    JSON.stringify({ store: 'sqlite:./data.db' }),
  );
  writeSplitMigrationFile(dir);
  const store = sqliteAt(path.join(dir, 'data.db'));
  await seedUsers(store, 300);
  await store.close();
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci', ...env },
    stdio: 'ignore',
  });
  return new Promise((resolve) => child.on('exit', resolve));
}

it('a CLI backfill exports its batch spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
  expect(await run(['backfill', 'split', '--batch-size', '100', '--json'], {})).toBe(0);
  expect(received).toEqual([]); // not configured: nothing sent
  expect(await run(['rollback', 'split'], {})).toBe(0);
  const code = await run(['backfill', 'split', '--batch-size', '100', '--json'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_SERVICE_NAME: 'otlp-test',
  });
  expect(code).toBe(0);
  const traces = received.filter((r) => r.path === '/v1/traces');
  expect(traces.length).toBeGreaterThan(0); // flushed before the process exited
  const all = traces.map((t) => t.body).join('\n');
  expect(all).toContain('switchyard.batch');
  expect(all).toContain('20261120-split');
  expect(all).toContain('otlp-test');
});
