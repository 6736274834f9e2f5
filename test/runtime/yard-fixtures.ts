import { afterEach } from 'vitest';
/** Shared set-up for the runtime tests: a project-like context over memory or SQLite stores. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Doc } from '../../src/core/values.js';
import { setStage, Stage, STAGE_ORDER } from '../../src/engine/stages.js';
import { renameField } from '../../src/migration/index.js';
import type { MigrationDefinition } from '../../src/migration/define-migration.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import type { Migration } from '../../src/migration/migration.js';
import { connect, type Yard, type YardOptions } from '../../src/runtime/yard.js';
import { AuditLog } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import type { Store } from '../../src/store/contract.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';

export const STORE_KINDS = ['memory', 'sqlite'] as const;

export function newStore(kind: (typeof STORE_KINDS)[number]): Store {
  if (kind === 'memory') return new MemoryStore();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sy-yard-')), 'app.db');
  return new SqliteStore(file, `sqlite:${file}`);
}

/** users -> users_v2, name renamed to fullName: exact, so every stage is reachable */
export function renameMigration(verify?: MigrationDefinition['verify']): Migration {
  return compileMigration({
    id: 'm-rename',
    collection: 'users',
    target: { collection: 'users_v2' },
    operations: [renameField('name', 'fullName')],
    ...(verify !== undefined ? { verify } : {}),
  });
}

export const oldDoc = (i: number, extra: Doc = {}): Doc => ({
  _id: `u${i}`,
  name: `N${i}`,
  ...extra,
});
export const newDoc = (i: number, extra: Doc = {}): Doc => ({
  _id: `u${i}`,
  fullName: `N${i}`,
  ...extra,
  _sv: 2,
});

export interface Fixture {
  store: Store;
  stateStore: Store;
  catalog: Catalog;
  audit: AuditLog;
  actor: string;
  migration: Migration;
  migrations(): Promise<Migration[]>;
}

export function fixture(store: Store, migration = renameMigration(), stateStore = store): Fixture {
  return {
    store,
    stateStore,
    catalog: new Catalog(stateStore),
    audit: new AuditLog(stateStore),
    actor: 'test',
    migration,
    migrations: async () => [migration],
  };
}

/** Walk the migration forward (or back) to `stage`, through every stage in between. */
export async function moveTo(f: Fixture, stage: Stage, percent?: number): Promise<void> {
  const now = (await f.catalog.get(f.migration.id))?.sideBySide as { stage?: Stage } | undefined;
  let i = STAGE_ORDER.indexOf(now?.stage ?? Stage.off);
  const j = STAGE_ORDER.indexOf(stage);
  if (j < i) {
    await setStage(f, f.migration, stage, stage === Stage.live ? { percent: percent ?? 0 } : {});
    return;
  }
  while (i < j) {
    i++;
    const s = STAGE_ORDER[i]!;
    if (s === Stage.live) await setStage(f, f.migration, s, { percent: i === j ? percent! : 100 });
    else await setStage(f, f.migration, s);
  }
  if (i === j && stage === Stage.live && percent !== undefined)
    await setStage(f, f.migration, Stage.live, { percent });
}

export function yardFor(f: Fixture, options: YardOptions = {}): Promise<Yard> {
  return connect({ project: f, refreshMs: 0, ...options });
}

export async function docsOf(store: Store, collection: string): Promise<Doc[]> {
  return (await store.collection(collection).scan({ limit: 100_000 })).items
    .map((s) => s.doc)
    .sort((a, b) => String(a._id).localeCompare(String(b._id)));
}

/** The yards and stores a test opens, closed after each test (call once per file). */
export function closeAfterEach(): { yard?: Yard; store?: Store }[] {
  const open: { yard?: Yard; store?: Store }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.yard?.close();
      await o.store?.close();
    }
  });
  return open;
}

/** Every stage of a side-by-side migration, in order, with the live percents the issue names. */
export const EVERY_STAGE: readonly (readonly [Stage, number?])[] = [
  [Stage.off],
  [Stage.dualWrite],
  [Stage.shadow],
  [Stage.live, 5],
  [Stage.live, 50],
  [Stage.live, 100],
  [Stage.rampdown],
  [Stage.complete],
];

/**
 * Move `f` through `stages` while a load runs: `perStage` requests (as `done()` counts them) in
 * the current stage before each move and after the last one, never a time. Stops early once
 * `failed()` says so.
 */
export async function walkStagesUnderLoad(
  f: Fixture,
  yard: Yard,
  stages: readonly (readonly [Stage, number?])[],
  load: { done(): number; failed(): boolean; perStage: number },
): Promise<void> {
  const waitFor = async (n: number) => {
    while (load.done() < n && !load.failed()) await new Promise((r) => setImmediate(r));
  };
  await waitFor(load.perStage);
  for (const [stage, percent] of stages) {
    await moveTo(f, stage, percent);
    await yard.refresh();
    await waitFor(load.done() + load.perStage);
  }
}
