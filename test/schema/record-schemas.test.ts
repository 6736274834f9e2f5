/**
 * The registry hook of the backfill: what it records, that a repeated run records nothing, that
 * two runs at once lose nothing, and that a registry whose every call fails does not fail the
 * backfill (the registry is advisory).
 */
import { describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { splitField } from '../../src/migration/index.js';
import { pathMap } from '../../src/schema/collection-schema.js';
import { recordMigrationSchemas } from '../../src/schema/record-schemas.js';
import { SchemaRegistry } from '../../src/schema/registry.js';
import { FaultyStore } from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { STATE_COLLECTIONS } from '../../src/state/state-collections.js';
import { allDocs, contextFor, seedUsers } from '../engine/backfill-fixtures.js';

const split = () =>
  compileMigration({
    id: 'm-split',
    collection: 'users',
    operations: [splitField('name', ['first', 'last'], ' ')],
    verify: { schema: { type: 'object', required: ['first'] } },
  });

describe('recording schemas when a backfill starts', () => {
  it('records v1 inferred, v2 predicted and declared; a second run reads and writes nothing new', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 500);
    const ctx = contextFor(store, store, 'ops');
    expect((await backfill(ctx, split(), {})).outcome).toBe('backfilled');
    const registry = new SchemaRegistry(store);
    const v1 = (await registry.get('users', 1))!;
    const v2 = (await registry.get('users', 2))!;
    expect(v1.inferred!.sampled).toBeGreaterThan(100);
    expect(v1.recorded.inferred).toMatchObject({ by: 'ops', migration: 'm-split' });
    expect(pathMap(v1.inferred!).get('name')!.types).toEqual(['string']);
    expect(pathMap(v2.predicted!).get('first')).toMatchObject({
      types: ['string'],
      required: true,
    });
    expect(pathMap(v2.predicted!).has('name')).toBe(false);
    expect(v2.declared).toEqual({ type: 'object', required: ['first'] });
    const revs = async () =>
      (await store.collection(STATE_COLLECTIONS.schemas).scan({ limit: 10 })).items.map(
        (i) => i.rev,
      );
    const before = await revs();
    expect(await recordMigrationSchemas(ctx, split())).toEqual({ written: [] });
    expect(await revs()).toEqual(before);
  });

  it('two recorders at once: every slot is written exactly once', async () => {
    const store = new MemoryStore();
    await seedUsers(store, 200);
    const ctx = contextFor(store);
    const [a, b] = await Promise.all([
      recordMigrationSchemas(ctx, split()),
      recordMigrationSchemas(ctx, split()),
    ]);
    expect([...a.written, ...b.written].sort()).toEqual([
      'users@v1:inferred',
      'users@v2:declared',
      'users@v2:predicted',
    ]);
  });

  it('a registry that keeps failing does not fail the recorder, nor the backfill', async () => {
    const inner = new MemoryStore();
    await seedUsers(inner, 300);
    const broken = new FaultyStore(inner, {
      failRate: 1,
      affects: (name) => name === STATE_COLLECTIONS.schemas,
    });
    expect(await recordMigrationSchemas(contextFor(broken), split())).toEqual({ written: [] });
    expect(broken.stats.failures).toBeGreaterThan(0);
    // flaky: the backfill's retries carry the registry through, each fault reported as a retry
    const flaky = new FaultyStore(inner, {
      failRate: 0.4,
      seed: 7,
      affects: (name) => name === STATE_COLLECTIONS.schemas,
    });
    const retried: string[] = [];
    const r = await backfill(contextFor(flaky), split(), {
      onEvent: (e) => {
        if (e.type === 'retry') retried.push(e.error);
      },
    });
    expect(r.outcome).toBe('backfilled');
    expect(flaky.stats.failures).toBeGreaterThan(0);
    expect(retried.length).toBe(flaky.stats.failures);
    expect(retried.every((e) => e.startsWith('schema registry: injected'))).toBe(true);
    expect([...(await allDocs(inner)).values()].every((d) => d._sv === 2)).toBe(true);
    flaky.enabled = false;
    expect((await new SchemaRegistry(flaky).list()).map((e) => e.version)).toEqual([1, 2]);
  });
});
