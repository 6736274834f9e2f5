/**
 * Capacity-aware throttling on DynamoDB Local: a backfill asks for ConsumedCapacity, holds to
 * --max-wcu / --max-rcu (units per second, or a share of the table's provisioned capacity),
 * slows down further when DynamoDB throttles (and retries, never dead-letters), and shows what
 * it consumed in its progress, in `status` and in /metrics; `plan` estimates the units and the
 * on-demand price of a full backfill. Budgets are checked with lower bounds on time only (a
 * busy machine makes a run slower, never faster).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { backfill, type BackfillProgress } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { renameField } from '../../src/migration/index.js';
import { renderProjectMetrics } from '../../src/observe/metrics.js';
import { Catalog } from '../../src/state/catalog.js';
import { DynamoStore, type DynamoClient } from '../../src/store/dynamodb/dynamodb-adapter.js';
import { openStore } from '../../src/store/open-store.js';
import { contextFor, seedUsers, sqliteAt, tempDir } from '../engine/backfill-fixtures.js';
import { FaultyDynamoClient } from '../support/dynamodb-faults.js';
import {
  dynamoDbLocalClient,
  dynamoDescribe,
  useDynamoDbLocal,
  type DynamoDbLocal,
} from '../support/dynamodb-local.js';
import { runCli } from '../support/cli-process.js';

let server: () => DynamoDbLocal;
let n = 0;

const rename = (id: string) =>
  compileMigration({ id, collection: 'users', operations: [renameField('name', 'fullName')] });

function sdk(): DynamoDBClient {
  return dynamoDbLocalClient(server());
}

dynamoDescribe('capacity-aware throttling on DynamoDB', () => {
  server = useDynamoDbLocal();

  it('--max-wcu holds the backfill to its budget; throttling halves it and is retried, never dead-lettered', async () => {
    const prefix = `c${++n}_`;
    const faulty = new FaultyDynamoClient(sdk() as unknown as DynamoClient, {
      throttleRate: 0.2,
      seed: 5,
    });
    const store = new DynamoStore(faulty, `${server().url}&prefix=${prefix}`, {
      prefix,
      retryBaseMs: 1,
    });
    const state = (await openStore(`${server().url}&prefix=${prefix}`)) as DynamoStore;
    faulty.enabled = false;
    await seedUsers(store, 300);
    faulty.enabled = true;
    const progress: BackfillProgress[] = [];
    const started = performance.now();
    const r = await backfill(contextFor(store, state), rename('m-cap'), {
      batchSize: 50,
      partitions: 1,
      concurrency: 1,
      journal: false,
      maxWcu: 100,
      progressIntervalMs: 200,
      onEvent: (e) => {
        if (e.type === 'progress') progress.push(e.progress);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    expect(r.outcome).toBe('backfilled');
    expect(r.progress.migrated).toBe(300);
    expect(r.progress.deadLetters).toBe(0);
    expect(faulty.stats.throttled).toBeGreaterThan(0);
    const cap = r.progress.capacity!;
    // every item written once (1 unit each: under 1 KB), and the scan read
    expect(cap.write).toBeGreaterThanOrEqual(300);
    expect(cap.read).toBeGreaterThan(0);
    // everything but the first batch waited for the budget: at most 100 units a second
    expect(seconds * 100).toBeGreaterThanOrEqual(cap.write - 60);
    // the budget in force fell below 100 after throttling (AIMD)
    expect(progress.some((p) => p.capacity!.writeBudget < 100)).toBe(true);
    expect(progress.every((p) => p.capacity!.writeBudget <= 100)).toBe(true);
    await store.close();
    await state.close();
  }, 120_000);

  it('a percentage of the provisioned capacity; refusals before anything is written', async () => {
    const prefix = `c${++n}_`;
    const client = sdk();
    await client.send(
      new CreateTableCommand({
        TableName: `${prefix}users`,
        AttributeDefinitions: [{ AttributeName: '_id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: '_id', KeyType: 'HASH' }],
        ProvisionedThroughput: { ReadCapacityUnits: 40, WriteCapacityUnits: 20 },
      }),
    );
    client.destroy();
    const store = (await openStore(`${server().url}&prefix=${prefix}`)) as DynamoStore;
    await seedUsers(store, 30);
    const budgets: number[] = [];
    const r = await backfill(contextFor(store), rename('m-pct'), {
      batchSize: 10,
      partitions: 1,
      journal: false,
      maxWcu: '50%',
      maxRcu: '25%',
      progressIntervalMs: 100,
      onEvent: (e) => {
        if (e.type === 'progress')
          budgets.push(e.progress.capacity!.writeBudget, e.progress.capacity!.readBudget);
      },
    });
    expect(r.outcome).toBe('backfilled');
    expect(budgets.slice(0, 2)).toEqual([10, 10]);

    const onDemand = (await openStore(`${server().url}&prefix=c${++n}_`)) as DynamoStore;
    await seedUsers(onDemand, 5);
    for (const [options, why] of [
      [{ maxWcu: '50%' }, /is on demand, so it has no provisioned write capacity/],
      [{ maxRcu: '150%' }, /--max-rcu must be capacity units per second .* got '150%'/],
      [{ maxWcu: 0 }, /--max-wcu must be/],
    ] as const) {
      const err = await backfill(contextFor(onDemand), rename('m-refused'), options).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(why);
    }
    expect(await new Catalog(onDemand).get('m-refused')).toBeNull();
    const dir = tempDir('sy-cap-');
    const sqlite = sqliteAt(path.join(dir, 'x.db'));
    await seedUsers(sqlite, 3);
    await expect(backfill(contextFor(sqlite), rename('m-sqlite'), { maxWcu: 10 })).rejects.toThrow(
      /--max-wcu needs a store that meters capacity units \(dynamodb\)/,
    );
    await sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
    await store.close();
    await onDemand.close();
  }, 120_000);

  it('the CLI: plan estimates units and the on-demand price; backfill --max-wcu; status and /metrics show what was consumed', async () => {
    const dir = tempDir('sy-cap-cli-');
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-rename.mjs'),
      `import { defineMigration, renameField } from 'switchyard';
export default defineMigration({ collection: 'users', operations: [renameField('name', 'fullName')] });
`,
    );
    const url = `${server().url}&prefix=c${++n}_`;
    const store = await openStore(url);
    await seedUsers(store, 200);
    await store.close();
    const cli = (...args: string[]) =>
      runCli(dir, ['--store', url, '--migrations', path.join(dir, 'migrations'), ...args]);

    const planned = await cli('plan', 'rename', '--sample', '50');
    expect(planned.code, planned.out).toBe(0);
    expect(planned.out).toMatch(
      /capacity of a full backfill \(estimated from the sample\): \d+ read units, 200 write units \+ 200 for the undo journal/,
    );
    expect(planned.out).toMatch(/on demand: about \$0\.000\d+ \(on-demand list prices, us-east-1/);
    const json = JSON.parse((await cli('--json', 'plan', 'rename', '--sample', '50')).stdout);
    expect(json.capacity).toMatchObject({ items: 200, writeUnits: 200, billing: 'on-demand' });
    expect(json.capacity.costUsd).toBeGreaterThan(0);

    const bf = await cli(
      'backfill',
      'rename',
      '--max-wcu',
      '400',
      '--max-rcu',
      '400',
      '--batch-size',
      '50',
    );
    expect(bf.code, bf.out).toBe(0);
    const status = JSON.parse((await cli('--json', 'status')).stdout);
    const row = status.migrations.find((x: { id: string }) => x.id === '20261120-rename');
    expect(row.progress.capacity.write).toBeGreaterThanOrEqual(200);
    expect(row.progress.capacity.read).toBeGreaterThan(0);
    const text = (await cli('status')).out;
    expect(text).toMatch(/200\/200 \(100\.0%\), [\d.]+ RCU [\d.]+ WCU/);

    const state = await openStore(url);
    const metrics = await renderProjectMetrics({ stateStore: state, catalog: new Catalog(state) });
    expect(metrics).toMatch(
      /switchyard_capacity_units_consumed_total\{migration="20261120-rename",worker="[^"]+",kind="write"\} (\d+)/,
    );
    const written = Number(/kind="write"\} ([\d.]+)/.exec(metrics)![1]);
    expect(written).toBeGreaterThanOrEqual(200);
    await state.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 180_000);
  it('the progress total is the item count of the table (DescribeTable), not a COUNT scan that reads the whole table', async () => {
    const prefix = `c${++n}_`;
    const sent: string[] = [];
    const real = sdk() as unknown as DynamoClient;
    const recording: DynamoClient = {
      send: (command: object) => {
        const input = (command as { input?: { Select?: string } }).input;
        sent.push(`${command.constructor.name}${input?.Select === 'COUNT' ? ':COUNT' : ''}`);
        return real.send(command);
      },
      destroy: () => real.destroy(),
    };
    const store = new DynamoStore(recording, `${server().url}&prefix=${prefix}`, { prefix });
    const state = await openStore(`${server().url}&prefix=${prefix}`);
    // a table that is not there, or says 0: no estimate, so the exact count is used
    expect(await store.collection('users').estimatedCount!()).toBeNull();
    await seedUsers(store, 240);
    expect(await store.collection('users').estimatedCount!()).toBe(240);
    sent.length = 0;
    let total: number | undefined;
    const r = await backfill(contextFor(store, state), rename('m-total'), {
      batchSize: 50,
      journal: false,
      onEvent: (e) => {
        if (e.type === 'start') total = e.total;
      },
    });
    expect(r.outcome).toBe('backfilled');
    expect(r.progress.migrated).toBe(240);
    expect(total).toBe(240);
    expect(sent).toContain('DescribeTableCommand');
    expect(sent.filter((c) => c.endsWith(':COUNT'))).toEqual([]);
    await store.close();
    await state.close();
  }, 120_000);
});
