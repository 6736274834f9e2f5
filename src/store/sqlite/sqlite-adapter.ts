/**
 * The embedded default store: one SQLite file (better-sqlite3, WAL), one table per collection.
 *
 *   CREATE TABLE "<collection>" (k TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, rev TEXT) WITHOUT ROWID
 *
 * `doc` is the storage form of core/values.ts (plain JSON where exact, EJSON wrappers elsewhere),
 * so `json_extract(doc, '$.name')` works. `rev` is set by Switchyard on its own writes; two
 * triggers give a fresh random rev to any row written by anyone else (plain SQL, another tool)
 * without setting a new rev, so a conditional write never overwrites a change it did not see.
 * `changes()` is a change feed kept by more triggers, created only for collections someone tails
 * (sqlite-change-feed.ts). See docs/stores/sqlite.md.
 */
import Database from 'better-sqlite3';
import { checkFilter } from '../query.js';
import { StoreError } from '../../core/errors.js';
import { toStorageJSON } from '../../core/values.js';
import { decodeDocText, isUnreadable, readOrUnreadable } from '../decode-doc.js';
import type {
  Change,
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  Rev,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  UnreadableDoc,
  WriteGuard,
  WriteOp,
  WriteResult,
} from '../contract.js';
import { CollectionsByName, listedCollections } from '../collections-by-name.js';
import { StoreFullError, WriteGuardError } from '../store-errors.js';
import { asKeyRange, rangesFromBoundaries } from '../key-range.js';
import { newRev } from '../rev.js';
import { SqliteChangeFeed } from './sqlite-change-feed.js';

/** What this adapter uses of better-sqlite3 (STYLE.md: declare what you use of a driver). */
type SqliteDatabase = Database.Database;
type Statement = Database.Statement;

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: true,
  changeFeed: true,
  atomicBatch: true,
};

export interface SqliteStoreOptions {
  /** how long a writer waits for another process's lock, ms (default 10 s) */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** change feed: a reader not seen for this long is forgotten, ms (default 7 days) */
  changeReaderTtlMs?: number;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface Row {
  k: string;
  doc: string;
  rev: string;
}

export class SqliteCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly #db: SqliteDatabase;
  readonly #store: SqliteStore;
  readonly #table: string;
  #ready = false;
  /** #ensure created (or found) the table inside a transaction not yet committed */
  #created = false;
  readonly #stmts = new Map<string, Statement>();
  readonly #feed: SqliteChangeFeed;

  constructor(
    store: SqliteStore,
    db: SqliteDatabase,
    readonly name: string,
    options: SqliteStoreOptions = {},
  ) {
    this.#store = store;
    this.#db = db;
    this.#table = quoteIdent(name);
    this.#feed = new SqliteChangeFeed(
      db,
      name,
      options.changeReaderTtlMs !== undefined ? { readerTtlMs: options.changeReaderTtlMs } : {},
    );
  }

  /**
   * The changes after `position`, from now when null (see sqlite-change-feed.ts). The first call
   * on a collection creates its changelog and triggers; `doc` is the document as it is when read.
   */
  async changes(
    position: string | null,
    limit: number,
  ): Promise<{ changes: Change[]; position: string }> {
    try {
      this.#ensure();
      return this.#feed.read(position, limit);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        `sqlite change feed of '${this.name}' in ${this.#store.url} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Create the change feed's changelog and triggers now (idempotent; `changes(null)` does too). */
  enableChanges(): void {
    this.#ensure();
    this.#feed.enable();
  }

  /** Forget the reader of `position`; with no reader left, the triggers and changelog go. */
  async releaseChanges(position: string): Promise<void> {
    this.#feed.release(position);
  }

  /** Drop the change feed (triggers, changelog, readers) whoever still reads it. */
  disableChanges(): void {
    this.#feed.disable();
  }

  /** The change feed of this collection (for tests and tools). */
  get changeFeed(): SqliteChangeFeed {
    return this.#feed;
  }

  async get(key: Key): Promise<StoredDoc | null> {
    if (!this.#exists()) return null;
    const row = this.#stmt('get', `SELECT k, doc, rev FROM ${this.#table} WHERE k = ?`).get(key) as
      Row | undefined;
    return row === undefined ? null : toStored(row, this.#where);
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    if (keys.length === 0 || !this.#exists()) return keys.map(() => null);
    const found = new Map<Key, StoredDoc>();
    // chunks keep under SQLite's bound-parameter limit
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const sql = `SELECT k, doc, rev FROM ${this.#table} WHERE k IN (${chunk.map(() => '?').join(',')})`;
      const stmt = chunk.length === 500 ? this.#stmt('getMany500', sql) : this.#db.prepare(sql);
      for (const row of stmt.all(...chunk) as Row[]) found.set(row.k, toStored(row, this.#where));
    }
    return keys.map((k) => found.get(k) ?? null);
  }

  /** Equality filter in SQL (query.ts): the JSON type must agree as well as the value. */
  async find(
    filter: Readonly<Record<string, string | number | boolean | null>>,
    limit: number,
  ): Promise<StoredDoc[]> {
    const checked = checkFilter(filter);
    if (!this.#exists()) return [];
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [segments, value] of checked) {
      const path = `$${segments.map((s) => `."${s.replace(/"/g, '""')}"`).join('')}`;
      if (value === null || typeof value === 'boolean') {
        where.push('json_type(doc, ?) = ?');
        params.push(path, value === null ? 'null' : value ? 'true' : 'false');
      } else if (typeof value === 'string') {
        where.push(`(json_type(doc, ?) = 'text' AND json_extract(doc, ?) = ?)`);
        params.push(path, path, value);
      } else {
        where.push(`(json_type(doc, ?) IN ('integer', 'real') AND json_extract(doc, ?) = ?)`);
        params.push(path, path, value);
      }
    }
    params.push(limit);
    const sql = `SELECT k, doc, rev FROM ${this.#table} WHERE ${where.length > 0 ? where.join(' AND ') : '1'} ORDER BY k LIMIT ?`;
    return (this.#db.prepare(sql).all(...params) as Row[]).map((r) => toStored(r, this.#where));
  }

  async scan({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    if (!this.#exists()) return { items: [], cursor: null };
    const { start, end } = asKeyRange(range);
    const where: string[] = [];
    const params: unknown[] = [];
    if (cursor != null) {
      where.push('k > ?');
      params.push(cursor);
    }
    if (start !== undefined) {
      where.push('k >= ?');
      params.push(start);
    }
    if (end !== undefined) {
      where.push('k < ?');
      params.push(end);
    }
    const sql = `SELECT k, doc, rev FROM ${this.#table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY k LIMIT ?`;
    params.push(limit);
    const rows = this.#stmt(`scan:${where.join()}`, sql).all(...params) as Row[];
    // a row that is not a document is reported with its key; the scan goes on (contract.ts)
    const items: StoredDoc[] = [];
    const unreadable: UnreadableDoc[] = [];
    for (const row of rows) {
      const r = readOrUnreadable(row.k, () => toStored(row, this.#where));
      if (isUnreadable(r)) unreadable.push(r);
      else items.push(r);
    }
    return {
      items,
      ...(unreadable.length > 0 ? { unreadable } : {}),
      cursor: rows.length === limit ? rows[rows.length - 1]!.k : null,
    };
  }

  async split(n: number): Promise<Range[]> {
    if (!this.#exists() || n <= 1) return rangesFromBoundaries([]);
    const count = await this.count();
    const stmt = this.#stmt('nth', `SELECT k FROM ${this.#table} ORDER BY k LIMIT 1 OFFSET ?`);
    const boundaries: Key[] = [];
    for (let i = 1; i < n && count > 0; i++) {
      const offset = Math.floor((i * count) / n);
      if (offset === 0) continue;
      const row = stmt.get(offset) as { k: string } | undefined;
      if (row !== undefined) boundaries.push(row.k);
    }
    return rangesFromBoundaries(boundaries);
  }

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    const run = this.#db.transaction((): WriteResult[] => this.applyOps(ops));
    try {
      const results = run.immediate();
      this.committed();
      return results;
    } catch (err) {
      this.committed(false);
      throw writeFailure(err, `sqlite write to '${this.name}' in ${this.#store.url}`, this.#store);
    }
  }

  /** Apply ops inside the caller's transaction (write, or the store's writeAtomic). */
  applyOps(ops: readonly WriteOp[]): WriteResult[] {
    if (ops.length === 0) return [];
    this.#ensure();
    const upsert = this.#stmt(
      'upsert',
      `INSERT INTO ${this.#table} (k, doc, rev) VALUES (?, ?, ?) ON CONFLICT(k) DO UPDATE SET doc = excluded.doc, rev = excluded.rev`,
    );
    const insert = this.#stmt(
      'insert',
      `INSERT INTO ${this.#table} (k, doc, rev) VALUES (?, ?, ?) ON CONFLICT(k) DO NOTHING`,
    );
    const update = this.#stmt(
      'update',
      `UPDATE ${this.#table} SET doc = ?, rev = ? WHERE k = ? AND rev = ?`,
    );
    const del = this.#stmt('delete', `DELETE FROM ${this.#table} WHERE k = ?`);
    const delIf = this.#stmt('deleteIf', `DELETE FROM ${this.#table} WHERE k = ? AND rev = ?`);
    const revOf = this.#stmt('rev', `SELECT rev FROM ${this.#table} WHERE k = ?`).pluck();
    const conflict = (key: Key): WriteResult => ({
      key,
      ok: false,
      reason: 'conflict',
      currentRev: (revOf.get(key) as string | undefined) ?? null,
    });
    return ops.map((op): WriteResult => {
      if (op.type === 'delete') {
        const changes =
          op.ifRev === undefined ? del.run(op.key).changes : delIf.run(op.key, op.ifRev).changes;
        return op.ifRev !== undefined && changes === 0
          ? conflict(op.key)
          : { key: op.key, ok: true, rev: null };
      }
      const rev = newRev();
      const text = toStorageJSON(op.doc);
      if (op.ifRev === undefined) upsert.run(op.key, text, rev);
      else if (op.ifRev === null) {
        if (insert.run(op.key, text, rev).changes === 0) return conflict(op.key);
      } else if (update.run(text, rev, op.key, op.ifRev).changes === 0) return conflict(op.key);
      return { key: op.key, ok: true, rev };
    });
  }

  /** The rev of `key` now (null: absent), inside the caller's transaction. */
  revNow(key: Key): Rev | null {
    if (!this.#exists()) return null;
    const rev = this.#stmt('rev', `SELECT rev FROM ${this.#table} WHERE k = ?`).pluck().get(key);
    return (rev as string | undefined) ?? null;
  }

  async count(range?: Range): Promise<number> {
    if (!this.#exists()) return 0;
    const { start, end } = asKeyRange(range);
    const where: string[] = [];
    const params: string[] = [];
    if (start !== undefined) {
      where.push('k >= ?');
      params.push(start);
    }
    if (end !== undefined) {
      where.push('k < ?');
      params.push(end);
    }
    const sql = `SELECT count(*) FROM ${this.#table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    return this.#stmt(`count:${where.join()}`, sql)
      .pluck()
      .get(...params) as number;
  }

  /**
   * The transaction that ran applyOps committed: a table it created exists now. Until then it is
   * not known to exist (#ensure inside a transaction does not say so): a transaction that rolls
   * back takes the CREATE TABLE with it, and a table cached as existing would fail every later
   * write with "no such table" (issue 13 B).
   */
  committed(ok = true): void {
    if (this.#created && ok) this.#ready = true;
    this.#created = false;
  }

  /** where a read happened, for errors: the collection and the store */
  get #where(): string {
    return `sqlite collection '${this.name}' in ${this.#store.url}`;
  }

  /** Forget prepared statements and the "table exists" knowledge (after a drop). */
  reset(): void {
    this.#stmts.clear();
    this.#ready = false;
  }

  #stmt(id: string, sql: string): Statement {
    let s = this.#stmts.get(id);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      this.#stmts.set(id, s);
    }
    return s;
  }

  /** Does the collection's table exist? */
  exists(): boolean {
    return this.#exists();
  }

  #exists(): boolean {
    if (this.#ready) return true;
    const found =
      this.#db
        .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`)
        .get(this.name) !== undefined;
    // inside a transaction a table found may still be rolled back (see committed())
    if (found && !this.#db.inTransaction) this.#ready = true;
    return found;
  }

  #ensure(): void {
    if (this.#ready) return;
    const t = this.#table;
    const trig = (suffix: string) => quoteIdent(`${this.name}__sy_rev_${suffix}`);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${t} (k TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL, rev TEXT) WITHOUT ROWID;
      CREATE TRIGGER IF NOT EXISTS ${trig('insert')} AFTER INSERT ON ${t} FOR EACH ROW WHEN NEW.rev IS NULL
        BEGIN UPDATE ${t} SET rev = 'x' || lower(hex(randomblob(8))) WHERE k = NEW.k; END;
      CREATE TRIGGER IF NOT EXISTS ${trig('update')} AFTER UPDATE ON ${t} FOR EACH ROW WHEN NEW.rev IS OLD.rev OR NEW.rev IS NULL
        BEGIN UPDATE ${t} SET rev = 'x' || lower(hex(randomblob(8))) WHERE k = NEW.k; END;
    `);
    // a tailed collection dropped and created again gets its change triggers back
    if (this.#feed.isEnabled()) this.#feed.createTriggers();
    // inside a transaction the table exists only once it commits (see committed())
    if (this.#db.inTransaction) this.#created = true;
    else this.#ready = true;
  }
}

/**
 * A failed write as a StoreError; a full disk (SQLITE_FULL) as StoreFullError, naming the file
 * and what to do (the transaction rolled back: nothing of the write is in the database).
 */
function writeFailure(err: unknown, what: string, store: SqliteStore): StoreError {
  const message = (err as Error).message;
  if ((err as { code?: unknown }).code === 'SQLITE_FULL')
    return new StoreFullError(
      `${what} failed: the disk holding ${store.path} is full (${message}); nothing of this write was applied. Free space on that disk, then run the same command again: it goes on where it stopped`,
      { cause: err },
    );
  return new StoreError(`${what} failed: ${message}`, { cause: err });
}

/** A row as a stored document; UnreadableDocumentError when its text is not a document. */
function toStored(row: Row, where: string): StoredDoc {
  return { key: row.k, doc: decodeDocText(row.doc, row.k, where), rev: row.rev, text: row.doc };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #db: SqliteDatabase;
  readonly #collections = new CollectionsByName<SqliteCollection>(
    (name) => new SqliteCollection(this, this.#db, name, this.#options),
  );
  readonly #options: SqliteStoreOptions;

  constructor(
    readonly path: string,
    readonly url: string,
    options: SqliteStoreOptions = {},
  ) {
    this.#options = options;
    try {
      this.#db = new Database(path, { readonly: options.readonly ?? false });
      if (path !== ':memory:' && options.readonly !== true) this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 10_000}`);
      this.#db.pragma('synchronous = NORMAL');
    } catch (err) {
      throw new StoreError(`cannot open ${url}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The underlying database, for tests and tools that must reach behind the contract. */
  get database(): SqliteDatabase {
    return this.#db;
  }

  collection(name: string): SqliteCollection {
    return this.#collections.get(name);
  }

  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const rows = this.#db
      .prepare(
        `SELECT m.name AS name FROM sqlite_master m WHERE m.type = 'table'
         AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'k')
         AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'doc')
         AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'rev')`,
      )
      .pluck()
      .all() as string[];
    return listedCollections(rows, options);
  }

  async writeAtomic(
    batches: readonly { collection: string; ops: readonly WriteOp[] }[],
    guard?: WriteGuard,
  ): Promise<WriteResult[][]> {
    const run = this.#db.transaction(() => {
      if (guard !== undefined) {
        const current = this.collection(guard.collection).revNow(guard.key);
        if (current !== guard.rev) throw new WriteGuardError(guard, current);
      }
      return batches.map((b) => this.collection(b.collection).applyOps(b.ops));
    });
    try {
      const results = run.immediate();
      for (const b of batches) this.collection(b.collection).committed();
      return results;
    } catch (err) {
      for (const b of batches) this.collection(b.collection).committed(false);
      if (err instanceof WriteGuardError) throw err;
      throw writeFailure(err, `sqlite write in ${this.url}`, this);
    }
  }

  async dropCollection(name: string): Promise<void> {
    const c = this.collection(name);
    this.#db
      .transaction(() => {
        // a tailed collection: its readers see every document go
        if (c.exists()) c.changeFeed.logDropOfAll();
        this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(name)}`);
      })
      .immediate();
    c.reset();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
