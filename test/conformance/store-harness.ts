/**
 * How the conformance suite reaches each adapter. An entry opens a fresh, empty store and can
 * write a document "behind the adapter's back", the way the application's own driver or a plain
 * SQL session would, so the suite can check that revs see foreign writes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../src/store/contract.js';
import type { Doc } from '../../src/core/values.js';
import { MemoryStore } from '../../src/store/memory-adapter.js';
import { SqliteStore } from '../../src/store/sqlite-adapter.js';
import { toStorageJSON } from '../../src/core/values.js';

export interface StoreHarness {
  readonly name: string;
  open(): Promise<Store>;
  /** change (or create) a stored document without going through the adapter */
  foreignWrite(store: Store, collection: string, key: string, doc: Doc): Promise<void>;
  /** tear down servers, temp dirs */
  cleanup?(): Promise<void>;
}

export const memoryHarness: StoreHarness = {
  name: 'memory',
  async open() {
    return new MemoryStore();
  },
  async foreignWrite(store, collection, key, doc) {
    (store as MemoryStore).collection(collection).tamper(key, doc);
  },
};

export function sqliteHarness(): StoreHarness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-conf-sqlite-'));
  let n = 0;
  return {
    name: 'sqlite',
    async open() {
      n += 1;
      const file = path.join(dir, `s${n}.db`);
      return new SqliteStore(file, `sqlite:${file}`);
    },
    async foreignWrite(store, collection, key, doc) {
      // plain SQL, as another tool would do it: no rev given
      const db = (store as SqliteStore).database;
      const t = `"${collection.replace(/"/g, '""')}"`;
      const changed = db
        .prepare(`UPDATE ${t} SET doc = ? WHERE k = ?`)
        .run(toStorageJSON(doc), key).changes;
      if (changed === 0)
        db.prepare(`INSERT INTO ${t} (k, doc) VALUES (?, ?)`).run(key, toStorageJSON(doc));
    },
    async cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The adapters selected by SWITCHYARD_STORES (comma-separated; default memory,sqlite). */
export function selectedStores(): string[] {
  return (process.env.SWITCHYARD_STORES ?? 'memory,sqlite')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
