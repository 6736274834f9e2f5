/**
 * DynamoDB Local killed (kill -9) and started again on the same port with its data in a file
 * (`-dbPath`), in the middle of a backfill and of a rollback run as real CLI processes (issue 20
 * item 3). The data and the migration state both live on that server. While it is away every
 * request fails to connect: the adapter says "the server is unreachable" (a StoreUnreachableError,
 * dynamodb-adapter.ts networkFailure), the job says it waits and tries again, and when the server
 * is back the run goes on and ends exact: every document transformed once, then every document
 * restored. A request the server applied but did not answer before it died is found applied on
 * the retry (its condition no longer holds and the item is what the write wrote).
 * Without Java / DynamoDB Local the file skips (CI: fails).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { canonicalEquals } from '../../src/index.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/contract.js';
import type { Doc } from '../../src/core/values.js';
import { spawnCli, type CliProcess } from '../support/cli-process.js';
import {
  dynamoDescribe,
  startDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import {
  allDocs,
  expectedSplit,
  seedUsers,
  tempDir,
  userDoc,
  writeSplitMigrationFile,
} from './backfill-fixtures.js';

// small: DynamoDB Local with a file (-dbPath) is slow to seed and to scan under CI's load
const N = 600;

dynamoDescribe('DynamoDB Local restarted mid-run (kill -9, data in a file)', () => {
  let server: DynamoDbLocal;
  let dbDir: string;
  let dir: string;
  const url = () => `dynamodb://127.0.0.1:${server.port}?region=local&prefix=rs_`;
  beforeAll(async () => {
    // on tmpfs where there is one: the file outlives the killed process all the same, and
    // DynamoDB Local's per-write sync to a disk made this file take minutes in CI
    const shm = '/dev/shm';
    const base = fs.existsSync(shm) && fs.statSync(shm).isDirectory() ? shm : os.tmpdir();
    dbDir = fs.mkdtempSync(path.join(base, 'sy-ddb-file-'));
    server = await startDynamoDbLocal({ dbPath: dbDir });
    dir = tempDir('sy-ddb-restart-');
    writeSplitMigrationFile(dir);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dbDir, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]): CliProcess =>
    spawnCli(
      ['--store', url(), '--migrations', path.join(dir, 'migrations'), '--json', ...args],
      dir,
    );

  /** once the job's first progress line is out, kill the server, wait, start it again */
  async function restartMidRun(p: CliProcess): Promise<void> {
    for (let i = 0; i < 4000 && !/"event":"progress"/.test(p.stdout()); i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(p.stdout()).toMatch(/"event":"progress"/);
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
    await server.kill9();
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000));
    await server.restart();
  }

  /** the outage, in words: unreachable and waiting, never the SDK's bare socket error alone */
  function expectWaited(stderr: string): void {
    const waits = stderr.split('\n').filter((l) => /the server is unreachable/.test(l));
    expect(waits.length, stderr.slice(-2000)).toBeGreaterThan(0);
    for (const line of waits)
      expect(line).toMatch(/store call failed; waiting \d+( ms|\.\d s), then trying again/);
  }

  /** documents not as expected (DynamoDB keeps no field order: compared canonically) */
  async function wrongDocs(store: Store, expected: (i: number) => Doc): Promise<number> {
    const docs = await allDocs(store);
    expect(docs.size).toBe(N);
    let wrong = 0;
    for (const [key, doc] of docs)
      if (!canonicalEquals(doc, expected(Number(key.slice(1))))) wrong += 1;
    return wrong;
  }

  it('backfill: waits through the outage, then every document transformed exactly', async () => {
    const store = await openStore(url());
    await seedUsers(store, N);
    await store.close();
    // slow enough that the kill lands mid-run
    const p = cli('backfill', 'split', '--batch-size', '100', '--partitions', '4', '--rate', '150');
    await restartMidRun(p);
    const code = await p.exited;
    expect({ code, stderr: p.stderr().slice(-2000) }).toMatchObject({ code: 0 });
    expect(p.stdout()).toMatch(/"event":"done","outcome":"backfilled"/);
    expectWaited(p.stderr());
    const after = await openStore(url());
    expect(await wrongDocs(after, (i) => expectedSplit(i))).toBe(0);
    await after.close();
    const verify = cli('verify', 'split', '--full');
    expect(await verify.exited).toBe(0);
  }, 240_000);

  it('rollback: waits through the outage, then every document restored exactly', async () => {
    const p = cli('rollback', 'split', '--rate', '200');
    await restartMidRun(p);
    const code = await p.exited;
    expect({ code, stderr: p.stderr().slice(-2000) }).toMatchObject({ code: 0 });
    expectWaited(p.stderr());
    const after = await openStore(url());
    expect(await wrongDocs(after, (i) => userDoc(i))).toBe(0);
    await after.close();
  }, 240_000);
});
