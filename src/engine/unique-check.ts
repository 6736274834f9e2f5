/**
 * The unique fields of a migration over a whole collection (migration/unique-fields.ts), for a
 * full verify (in place: the collection; side by side: the target): one streaming pass over the
 * stored documents. A sampled verify checks its sample in memory (checkUniqueInSample). Memory stays bounded
 * whatever the collection's size: each document's constraint values go, as a SHA-1 of their
 * canonical text (and the text's first 200 characters, to name it), into a table of a temporary
 * SQLite file (better-sqlite3, in a fresh temp directory, removed at the end); SQLite groups them
 * on disk. Nothing of the collection is held in memory beyond one page.
 *
 * What it sees is what is stored when each page is read: a write during the pass may or may not
 * be seen, and a write after it can collide again (no index is created anywhere).
 */
import { hash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Collection } from '../store/contract.js';
import {
  constraintSource,
  findCollisions,
  MAX_COLLISION_KEYS,
  uniqueValue,
  type Collision,
  type UniqueConstraint,
} from '../migration/unique-fields.js';
import type { Doc } from '../core/values.js';
import type { Key } from '../store/contract.js';

const PAGE = 1000;
/** characters of a value kept to name it in the report */
const SHOWN_CHARS = 200;

export interface UniqueCheck {
  /** the constraints checked, by name */
  fields: string[];
  /** where each of `fields` comes from: `declared`, or the store's words (absent: all declared) */
  sources?: string[];
  /**
   * constraints the store keeps itself (a DynamoDB table key, a MongoDB unique index): what it
   * stores cannot break them, so verify names them and does not scan for them
   */
  keptByStore?: { name: string; source: string }[];
  /** what the store has that is not unique (DynamoDB secondary indexes), said in the report */
  notUnique?: string[];
  /** only a sample of the documents was looked at (verify --sample): collisions within it */
  sample?: boolean;
  /** documents whose values were looked at */
  documents: number;
  /** distinct values shared by two documents or more (over every constraint) */
  collisions: number;
  /** the first of them, most shared first (at most `maxSamples`) */
  samples: Collision[];
}

export async function checkUnique(
  collection: Collection,
  constraints: readonly UniqueConstraint[],
  options: { maxSamples: number; signal?: AbortSignal },
): Promise<UniqueCheck> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-unique-'));
  const db = new Database(path.join(dir, 'values.db'));
  try {
    // a scratch file: nothing to recover after a crash
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -16000'); // at most ~16 MB of pages in memory
    db.pragma('temp_store = FILE');
    db.exec(
      'CREATE TABLE v (c INTEGER NOT NULL, h BLOB NOT NULL, k TEXT NOT NULL, t TEXT NOT NULL)',
    );
    const insert = db.prepare('INSERT INTO v (c, h, k, t) VALUES (?, ?, ?, ?)');
    const insertPage = db.transaction((rows: [number, Buffer, string, string][]) => {
      for (const r of rows) insert.run(...r);
    });
    let documents = 0;
    let cursor: string | null = null;
    do {
      options.signal?.throwIfAborted();
      const page = await collection.scan({ cursor, limit: PAGE });
      const rows: [number, Buffer, string, string][] = [];
      for (const { key, doc } of page.items) {
        documents += 1;
        constraints.forEach((c, i) => {
          const v = uniqueValue(c, doc);
          if (v !== undefined)
            rows.push([i, hash('sha1', v, 'buffer'), key, v.slice(0, SHOWN_CHARS)]);
        });
      }
      insertPage(rows);
      cursor = page.cursor;
    } while (cursor !== null);

    db.exec('CREATE INDEX v_ch ON v (c, h)');
    const groups = db
      .prepare(
        'SELECT c, h, MIN(t) AS t, COUNT(*) AS n FROM v GROUP BY c, h HAVING n > 1 ORDER BY n DESC, t',
      )
      .iterate() as Iterable<{ c: number; h: Buffer; t: string; n: number }>;
    const keysOf = db.prepare('SELECT k FROM v WHERE c = ? AND h = ? ORDER BY k LIMIT ?').pluck();
    let collisions = 0;
    const shared: { c: number; h: Buffer; t: string; n: number }[] = [];
    for (const g of groups) {
      collisions += 1;
      if (shared.length < options.maxSamples) shared.push(g);
    }
    const samples = shared.map((g): Collision => ({
      field: constraints[g.c]!.name,
      value: g.t,
      count: g.n,
      keys: keysOf.all(g.c, g.h, MAX_COLLISION_KEYS) as string[],
    }));
    return { ...named(constraints), documents, collisions, samples };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function named(constraints: readonly UniqueConstraint[]): Pick<UniqueCheck, 'fields' | 'sources'> {
  return { fields: constraints.map((c) => c.name), sources: constraints.map(constraintSource) };
}

/** The collisions among a sample's documents (a sampled verify), most shared first. */
export function checkUniqueInSample(
  constraints: readonly UniqueConstraint[],
  docs: readonly { key: Key; doc: Doc }[],
  maxSamples: number,
): UniqueCheck {
  const found = findCollisions(constraints, docs).sort((a, b) => b.count - a.count);
  return {
    ...named(constraints),
    sample: true,
    documents: docs.length,
    collisions: found.length,
    samples: found.slice(0, maxSamples),
  };
}
