/**
 * The SQLite change feed: a changelog table per tailed collection, fed by triggers, so it sees
 * every writer of the file — Switchyard, the application's own SQL, any other tool.
 *
 *   CREATE TABLE "_sy_changes_<collection>" (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL)
 *
 * Rules:
 * - Nothing exists until someone tails the collection: the first `changes()` call (or `enable()`)
 *   creates the changelog and its triggers, idempotently (`IF NOT EXISTS`), in one transaction.
 *   A collection nobody tails pays nothing on its write path.
 * - One row per change of a key: insert, update (including a change of `k`: both keys) and
 *   delete. The rev triggers of sqlite-adapter.ts turn a foreign write without a fresh rev into
 *   a second UPDATE; the conditions below log that second statement only, so each change is one
 *   row. Only the key is logged: the reader gets the document as it is when read (like MongoDB's
 *   `fullDocument: 'updateLookup'`), and a consumer that re-reads by key is correct whatever the
 *   order it sees changes in.
 * - `seq` is AUTOINCREMENT: never reused, even after every row was pruned. SQLite has one writer
 *   at a time, so `seq` order is commit order: a reader that saw seq n has seen every change
 *   committed before it.
 * - A position is `<feed>.<reader>.<seq>`: the feed's id (new each time the feed is enabled, so a
 *   position from before a reset is refused instead of silently skipping changes), the reader's id
 *   and the last seq it has passed. `changes(null)` registers a new reader at the head ("from
 *   now"). Asking for the changes after seq n acknowledges n for that reader.
 * - Pruning: rows every registered reader has passed are deleted (on acknowledgement). A reader
 *   not seen for `readerTtlMs` (default 7 days) is forgotten so it cannot pin the changelog for
 *   ever; asking from a position older than what was pruned is an error (E_CHANGE_POSITION),
 *   never a silent gap. `release(position)` forgets a reader; when none is left, the triggers
 *   and the changelog are dropped.
 * - Dropping the collection through the store logs every key first (a delete for each); a DROP
 *   TABLE in plain SQL is not seen (the triggers go with the table).
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ChangePositionError } from '../store-errors.js';
import { fromStorageJSON, type Doc } from '../../core/values.js';
import type { Change } from '../contract.js';

type SqliteDatabase = Database.Database;

export const FEEDS_TABLE = '_sy_changefeeds';
export const READERS_TABLE = '_sy_changefeed_readers';
/** a reader not seen for this long is forgotten (its position may then be lost) */
export const DEFAULT_READER_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** how often an idle reader's acknowledgement is written again (keeps it from expiring) */
const ACK_REFRESH_MS = 60_000;

export function changelogTable(collection: string): string {
  return `_sy_changes_${collection}`;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface Position {
  feed: string;
  reader: string;
  seq: number;
}

const POSITION = /^([0-9a-f]{8})\.([0-9a-f]{8})\.(\d{1,15})$/;

function parsePosition(text: string, collection: string): Position {
  const m = POSITION.exec(text);
  if (m === null)
    throw new ChangePositionError(
      `'${text}' is not a change feed position of sqlite collection '${collection}'`,
    );
  return { feed: m[1]!, reader: m[2]!, seq: Number(m[3]) };
}

function formatPosition(p: Position): string {
  return `${p.feed}.${p.reader}.${p.seq}`;
}

const newId = () => randomBytes(4).toString('hex');

export interface ChangeFeedOptions {
  readerTtlMs?: number;
  now?: () => number;
}

export class SqliteChangeFeed {
  readonly #db: SqliteDatabase;
  readonly #name: string;
  readonly #table: string;
  readonly #log: string;
  readonly #ttl: number;
  readonly #now: () => number;
  /** the last acknowledgement this process wrote, per reader: seq and when */
  readonly #acked = new Map<string, { seq: number; at: number }>();
  readonly #stmts = new Map<string, Database.Statement>();

  constructor(db: SqliteDatabase, collection: string, options: ChangeFeedOptions = {}) {
    this.#db = db;
    this.#name = collection;
    this.#table = quote(collection);
    this.#log = quote(changelogTable(collection));
    this.#ttl = options.readerTtlMs ?? DEFAULT_READER_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Is the feed enabled (its row in the feeds table exists)? */
  isEnabled(): boolean {
    return this.#feedRow() !== undefined;
  }

  /**
   * Create the changelog and the triggers (idempotent). The collection's table must exist.
   * Returns the feed id.
   */
  enable(): string {
    return this.#db.transaction(() => this.#enable()).immediate();
  }

  /** enable(), inside the caller's transaction */
  #enable(): string {
    this.#createMeta();
    this.#stmt(
      `INSERT INTO ${FEEDS_TABLE} (coll, feed, pruned_through, created_at) VALUES (?, ?, 0, ?) ON CONFLICT(coll) DO NOTHING`,
    ).run(this.#name, newId(), this.#now());
    this.createTriggers();
    return this.#feedRow()!.feed;
  }

  /** The triggers and the changelog table (for a collection whose feed is enabled). */
  createTriggers(): void {
    const t = this.#table;
    const log = this.#log;
    const trig = (suffix: string) => quote(`${this.#name}__sy_chg_${suffix}`);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${log} (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL);
      CREATE TRIGGER IF NOT EXISTS ${trig('insert')} AFTER INSERT ON ${t} FOR EACH ROW WHEN NEW.rev IS NOT NULL
        BEGIN INSERT INTO ${log} (k) VALUES (NEW.k); END;
      CREATE TRIGGER IF NOT EXISTS ${trig('update')} AFTER UPDATE ON ${t} FOR EACH ROW WHEN NEW.rev IS NOT NULL AND NEW.rev IS NOT OLD.rev
        BEGIN INSERT INTO ${log} (k) VALUES (NEW.k); END;
      CREATE TRIGGER IF NOT EXISTS ${trig('rekey')} AFTER UPDATE OF k ON ${t} FOR EACH ROW WHEN NEW.k IS NOT OLD.k
        BEGIN INSERT INTO ${log} (k) VALUES (OLD.k); END;
      CREATE TRIGGER IF NOT EXISTS ${trig('delete')} AFTER DELETE ON ${t} FOR EACH ROW
        BEGIN INSERT INTO ${log} (k) VALUES (OLD.k); END;
    `);
  }

  /** Drop the triggers, the changelog and every reader: nobody tails the collection any more. */
  disable(): void {
    this.#db.transaction(() => this.#disable()).immediate();
    this.#acked.clear();
  }

  /** Log a delete of every key (the collection is about to be dropped). No-op when disabled. */
  logDropOfAll(): void {
    if (!this.isEnabled()) return;
    this.#db.exec(`INSERT INTO ${this.#log} (k) SELECT k FROM ${this.#table}`);
  }

  /**
   * The changes after `position` (from now when null), at most `limit`. See the header for what
   * a position is and what asking acknowledges.
   */
  read(position: string | null, limit: number): { changes: Change[]; position: string } {
    if (position === null) return { changes: [], position: this.#register() };
    const p = parsePosition(position, this.#name);
    this.#acknowledge(p);
    const rows = this.#stmt(
      `SELECT c.seq AS seq, c.k AS k, t.doc AS doc FROM ${this.#log} c LEFT JOIN ${this.#table} t ON t.k = c.k
         WHERE c.seq > ? ORDER BY c.seq LIMIT ?`,
    ).all(p.seq, Math.max(0, limit)) as { seq: number; k: string; doc: string | null }[];
    const changes = rows.map((r): Change => ({
      position: formatPosition({ ...p, seq: r.seq }),
      key: r.k,
      doc: r.doc === null ? null : (fromStorageJSON(r.doc) as Doc),
    }));
    const last = rows[rows.length - 1];
    return {
      changes,
      position: last === undefined ? position : formatPosition({ ...p, seq: last.seq }),
    };
  }

  /** Forget the reader of `position`; with no reader left, drop the feed. */
  release(position: string): void {
    const p = parsePosition(position, this.#name);
    this.#db
      .transaction(() => {
        if (this.#feedRow()?.feed !== p.feed) return;
        this.#stmt(`DELETE FROM ${READERS_TABLE} WHERE coll = ? AND reader = ?`).run(
          this.#name,
          p.reader,
        );
        const left = this.#stmt(`SELECT count(*) FROM ${READERS_TABLE} WHERE coll = ?`)
          .pluck()
          .get(this.#name) as number;
        if (left === 0) this.#disable();
        else this.#prune();
      })
      .immediate();
    this.#acked.delete(p.reader);
  }

  /** How many changelog rows are kept now (for tests and status). */
  size(): number {
    if (!this.isEnabled()) return 0;
    return this.#stmt(`SELECT count(*) FROM ${this.#log}`).pluck().get() as number;
  }

  /** A new reader at the head of the changelog (enabling the feed first). */
  #register(): string {
    return this.#db
      .transaction(() => {
        const feed = this.#enable();
        const reader = newId();
        const seq = this.#head();
        const now = this.#now();
        this.#stmt(
          `INSERT INTO ${READERS_TABLE} (coll, reader, seq, touched_at) VALUES (?, ?, ?, ?)`,
        ).run(this.#name, reader, seq, now);
        this.#acked.set(reader, { seq, at: now });
        return formatPosition({ feed, reader, seq });
      })
      .immediate();
  }

  /**
   * Record that the reader has passed `p.seq` (when it moved, or the last record is getting
   * old), then prune what every reader has passed. Refuses positions the changelog cannot
   * continue from.
   */
  #acknowledge(p: Position): void {
    const now = this.#now();
    const last = this.#acked.get(p.reader);
    if (last !== undefined && last.seq === p.seq && now - last.at < ACK_REFRESH_MS) {
      // acknowledged recently, so not pruned past it: only the feed id needs checking
      if (this.#feedRow()?.feed !== p.feed) this.#refuseReset(p);
      return;
    }
    this.#db
      .transaction(() => {
        const feed = this.#feedRow();
        if (feed === undefined || feed.feed !== p.feed) this.#refuseReset(p);
        if (p.seq < feed.pruned_through)
          throw new ChangePositionError(
            `the change feed of '${this.#name}' no longer holds position ${formatPosition(p)}: changes up to ${feed.pruned_through} were pruned (a reader unseen for ${Math.round(this.#ttl / 3_600_000)} h is forgotten). Changes since that position are lost for this reader: rebuild the target (drop it, then catch up and backfill again).`,
          );
        if (p.seq > this.#head())
          throw new ChangePositionError(
            `position ${formatPosition(p)} is ahead of the change feed of '${this.#name}' (head ${this.#head()}): it belongs to another database`,
          );
        this.#stmt(
          `INSERT INTO ${READERS_TABLE} (coll, reader, seq, touched_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(coll, reader) DO UPDATE SET seq = excluded.seq, touched_at = excluded.touched_at`,
        ).run(this.#name, p.reader, p.seq, now);
        this.#prune(now);
      })
      .immediate();
    this.#acked.set(p.reader, { seq: p.seq, at: now });
  }

  #refuseReset(p: Position): never {
    throw new ChangePositionError(
      `position ${formatPosition(p)} belongs to an earlier change feed of '${this.#name}' (the feed was disabled or reset since): changes in between are lost for this reader`,
    );
  }

  /** Forget expired readers, delete rows every reader has passed. Inside a transaction. */
  #prune(now = this.#now()): void {
    this.#stmt(`DELETE FROM ${READERS_TABLE} WHERE coll = ? AND touched_at < ?`).run(
      this.#name,
      now - this.#ttl,
    );
    const min = this.#stmt(`SELECT min(seq) FROM ${READERS_TABLE} WHERE coll = ?`)
      .pluck()
      .get(this.#name) as number | null;
    // no reader left (all expired): everything logged so far is of no use to anyone
    const upTo = min ?? this.#head();
    const feed = this.#feedRow()!;
    if (upTo <= feed.pruned_through) return;
    this.#stmt(`DELETE FROM ${this.#log} WHERE seq <= ?`).run(upTo);
    this.#stmt(`UPDATE ${FEEDS_TABLE} SET pruned_through = ? WHERE coll = ?`).run(upTo, this.#name);
  }

  #disable(): void {
    if (this.#metaExists()) {
      this.#stmt(`DELETE FROM ${READERS_TABLE} WHERE coll = ?`).run(this.#name);
      this.#stmt(`DELETE FROM ${FEEDS_TABLE} WHERE coll = ?`).run(this.#name);
    }
    for (const suffix of ['insert', 'update', 'rekey', 'delete'])
      this.#db.exec(`DROP TRIGGER IF EXISTS ${quote(`${this.#name}__sy_chg_${suffix}`)}`);
    this.#db.exec(`DROP TABLE IF EXISTS ${this.#log}`);
  }

  /** the highest seq ever given out (0 before the first change) */
  #head(): number {
    const row = this.#stmt(`SELECT seq FROM sqlite_sequence WHERE name = ?`)
      .pluck()
      .get(changelogTable(this.#name)) as number | undefined;
    return row ?? 0;
  }

  #stmt(sql: string): Database.Statement {
    let st = this.#stmts.get(sql);
    if (st === undefined) {
      st = this.#db.prepare(sql);
      this.#stmts.set(sql, st);
    }
    return st;
  }

  #createMeta(): void {
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${FEEDS_TABLE} (coll TEXT PRIMARY KEY NOT NULL, feed TEXT NOT NULL,
        pruned_through INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ${READERS_TABLE} (coll TEXT NOT NULL, reader TEXT NOT NULL,
        seq INTEGER NOT NULL, touched_at INTEGER NOT NULL, PRIMARY KEY (coll, reader)) WITHOUT ROWID;
    `);
  }

  #metaExists(): boolean {
    return (
      this.#stmt(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(
        FEEDS_TABLE,
      ) !== undefined
    );
  }

  #feedRow(): { feed: string; pruned_through: number } | undefined {
    if (!this.#metaExists()) return undefined;
    return this.#stmt(`SELECT feed, pruned_through FROM ${FEEDS_TABLE} WHERE coll = ?`).get(
      this.#name,
    ) as { feed: string; pruned_through: number } | undefined;
  }
}
