/**
 * A collection of the Redis adapters (redis-adapter.ts has the store and the URL): reads,
 * conditional writes, scans with read-ahead, hash partitions, counts.
 *
 *   key of a document:  <prefix><collection>:<key>     (':' and '%' in collection names are
 *                                                       written %3A and %25)
 *
 * Scans: SCAN MATCH <prefix><collection>:*; a page of the whole collection is one script call
 * (SCAN + read), and the next page is read ahead while the caller works. A key of another Redis
 * type in the collection is listed as unreadable, never skipped (redis-other-types.ts).
 * `split(n)` gives at most 4 partitions by a hash of the document key (FNV-1a 32 of the UTF-8
 * bytes, modulo n): every partition runs its own SCAN over the collection's keys and keeps its
 * share. Every SCAN runs in a script that first checks the server's run id: a cursor is refused
 * by any other server process than the one that handed it out (redis-cursor.ts), and walks that
 * finish inside one call (count, drop) start again when the server restarted under them
 * (RedisStore.walk). See docs/stores/redis.md for the guarantees.
 */
import type {
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  ScanOptions,
  ScanPage,
  StoredDoc,
  UnreadableDoc,
  WriteOp,
  WriteResult,
} from '../contract.js';
import { isUnreadable } from '../decode-doc.js';
import { UnreadableDocumentError } from '../store-errors.js';
import type { RedisStore } from './redis-adapter.js';
import { decodeCursor, encodeCursor, serverRestarted, type ScanState } from './redis-cursor.js';
import { countOtherTypes, otherTypeReason } from './redis-other-types.js';
import {
  COUNT_SCRIPT,
  type RedisConnection,
  type RedisLayout,
  type StoredValue,
} from './redis-layout.js';

/** the COUNT hint of SCAN calls that look at keys only (count, listCollections, drop) */
export const SCAN_COUNT = 1000;
/** the most SCAN calls one script call makes (page and count scripts): bounds how long the
 * server is busy with one call, also when the collection is a small part of the database */
const SCAN_STEPS_PER_CALL = 10;
/** the most partitions `split` gives (see there) */
export const MAX_PARTITIONS = 4;
/** how long a page read ahead stays usable (ms): older ones are read again */
const READ_AHEAD_MAX_AGE_MS = 5000;
/** pages read ahead kept per collection (one per scan in progress) */
const READ_AHEAD_ENTRIES = 32;

const CAPABILITIES: CollectionCapabilities = {
  orderedScan: false,
  changeFeed: false,
  atomicBatch: true,
  cursorsTiedToServer: true,
};

/** A part of the keyspace: the keys whose FNV-1a 32 hash modulo `of` is `part`. */
export interface HashPartition extends Range {
  readonly part: number;
  readonly of: number;
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of a key. */
export function fnv1a32(key: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function encodeCollectionName(name: string): string {
  return name.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

export function decodeCollectionName(s: string): string {
  return s.replace(/%(25|3A)/g, (_m, h: string) => (h === '25' ? '%' : ':'));
}

/** Escape the glob characters of SCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function asPartition(range: Range | undefined): HashPartition | null {
  if (range === undefined) return null;
  const { part, of } = range as HashPartition;
  if (!Number.isInteger(part) || !Number.isInteger(of) || of < 1 || part < 0 || part >= of) {
    throw new TypeError(`range ${range.id} is not a Redis hash partition`);
  }
  return of === 1 ? null : (range as HashPartition);
}

function storedDoc(key: Key, v: StoredValue): StoredDoc {
  return v.text === undefined
    ? { key, doc: v.doc, rev: v.rev }
    : { key, doc: v.doc, rev: v.rev, text: v.text };
}

/** A page read ahead of the caller (or still being read); null when that read failed. */
interface Ahead {
  readonly started: number;
  /** connections the store had lost when the read was sent (ConnectionWatch.closes) */
  readonly closes: number;
  readonly page: Promise<ScanPage | null>;
}

/** Which scan page a read-ahead is: range, cursor and limit. */
function aheadId({ range, cursor, limit }: ScanOptions): string {
  return `${JSON.stringify(range ?? null)}\u0000${cursor ?? ''}\u0000${limit}`;
}

export class RedisCollection implements Collection {
  readonly capabilities = CAPABILITIES;
  readonly #store: RedisStore;
  readonly #conn: RedisConnection;
  readonly #layout: RedisLayout;
  /** `<prefix><encoded name>:` */
  readonly #base: string;
  readonly #pattern: string;
  /** the next page of each scan in progress, read while the caller works on the current one */
  readonly #ahead = new Map<string, Ahead>();

  constructor(
    store: RedisStore,
    conn: RedisConnection,
    layout: RedisLayout,
    readonly name: string,
  ) {
    this.#store = store;
    this.#conn = conn;
    this.#layout = layout;
    this.#base = `${store.prefix}${encodeCollectionName(name)}:`;
    this.#pattern = `${globEscape(this.#base)}*`;
  }

  /** The Redis key that holds a document. */
  redisKey(key: Key): string {
    return this.#base + key;
  }

  async get(key: Key): Promise<StoredDoc | null> {
    return (await this.getMany([key]))[0] ?? null;
  }

  async getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    const values = await this.#read(keys);
    return values.map((v, i) => {
      if (v === null) return null;
      if (isUnreadable(v))
        throw new UnreadableDocumentError(
          keys[i]!,
          v.reason,
          `${this.#store.kind} key '${this.redisKey(keys[i]!)}' (collection '${this.name}' in ${this.#store.url})`,
        );
      return v;
    });
  }

  /** The documents of `keys`; an UnreadableDoc (with the collection's key) where one is not. */
  async #read(keys: readonly Key[]): Promise<(StoredDoc | UnreadableDoc | null)[]> {
    if (keys.length === 0) return [];
    const full = keys.map((k) => this.redisKey(k));
    // a key of another type comes back unreadable from the same call (redis-other-types.ts)
    const values = await this.#store.run('read', () => this.#layout.read(this.#conn, full));
    return values.map((v, i) => {
      if (v === null) return null;
      return isUnreadable(v) ? { key: keys[i]!, reason: v.reason } : storedDoc(keys[i]!, v);
    });
  }

  /**
   * Resume rules: the cursor (redis-cursor.ts) holds the server's run id, the SCAN cursor and
   * the keys SCAN returned that did not fit in the page (at most about one SCAN reply). Those
   * are read first on the next page; a key seen twice within one page is returned once. SCAN
   * returns every key that exists for the whole scan at least once; it returns a key twice only
   * when the keyspace shrinks (rehash) between two calls, and then a page may repeat a key of an
   * earlier page. Every call that continues a cursor is refused by a server process other than
   * the one that handed it out (CursorInvalidatedError; nothing is read): the caller walks the
   * range again from its beginning.
   *
   * Read-ahead: when a page is returned with a cursor, the page after it is read at once, so the
   * server reads it while the caller works on this one (a backfill transforms and writes). The
   * next call with that range, cursor and limit gets it, if it is under 5 s old and no
   * connection was lost since it was sent; a read-ahead that fails is forgotten and the page is
   * read again. A page read ahead is a page read a little earlier: its revs are what they were
   * then, which conditional writes make safe.
   */
  async scan(options: ScanOptions): Promise<ScanPage> {
    const id = aheadId(options);
    const ahead = this.#ahead.get(id);
    let page: ScanPage | null = null;
    if (ahead !== undefined) {
      this.#ahead.delete(id);
      if (
        performance.now() - ahead.started <= READ_AHEAD_MAX_AGE_MS &&
        ahead.closes === this.#store.closes
      )
        page = await ahead.page;
    }
    page ??= await this.#readPage(options);
    if (page.cursor !== null) this.#readAhead({ ...options, cursor: page.cursor });
    return page;
  }

  #readAhead(options: ScanOptions): void {
    const id = aheadId(options);
    if (this.#ahead.has(id)) return;
    // forget pages nobody came for (a scan stopped half-way): they could not be used any more
    const now = performance.now();
    for (const [old, a] of this.#ahead)
      if (now - a.started > READ_AHEAD_MAX_AGE_MS) this.#ahead.delete(old);
    this.#ahead.set(id, {
      started: performance.now(),
      closes: this.#store.closes,
      page: this.#readPage(options).catch(() => null),
    });
    if (this.#ahead.size > READ_AHEAD_ENTRIES) this.#ahead.delete(this.#ahead.keys().next().value!);
  }

  async #readPage({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const part = asPartition(range);
    const where = `${this.#store.kind} scan of '${this.name}'${range !== undefined ? ` (range ${range.id})` : ''} in ${this.#store.url}`;
    const state = decodeCursor(cursor, where);
    if (part === null) return this.#readWholePage(state, limit, where);
    const keys: Key[] = [];
    const overflow: Key[] = [];
    const seen = new Set<Key>();
    const take = (k: Key): void => {
      if (seen.has(k)) return;
      seen.add(k);
      (keys.length < limit ? keys : overflow).push(k);
    };
    for (const k of state.pending) take(k);
    let { next, run } = state;
    while (keys.length < limit && next !== null) {
      const room = limit - keys.length;
      const count = Math.min(SCAN_COUNT, Math.max(10, room * part.of));
      // keys of every type: #read names those of another type
      const step = await this.#store.scanStep(this.#pattern, count, run, next, '');
      if (run !== null && step.run !== run) throw serverRestarted(where, run, step.run);
      run = step.run;
      next = step.cursor === '0' ? null : step.cursor;
      for (const full of step.keys) {
        const k = full.slice(this.#base.length);
        if (fnv1a32(k) % part.of === part.part) take(k);
      }
    }
    const items: StoredDoc[] = [];
    const unreadable: UnreadableDoc[] = [];
    for (const v of await this.#read(keys))
      if (v !== null && isUnreadable(v)) unreadable.push(v);
      else if (v !== null) items.push(v);
    return {
      items,
      ...(unreadable.length > 0 ? { unreadable } : {}),
      cursor: encodeCursor({ run, next, pending: overflow }),
    };
  }

  /**
   * A page of the whole collection: the layout's page script collects the keys and reads them
   * in one call (usually one call per page; more when SCAN_STEPS_PER_CALL SCAN calls did not
   * fill it, as in a collection that is a small part of the database).
   */
  async #readWholePage(state: ScanState, limit: number, where: string): Promise<ScanPage> {
    const base = this.#base.length;
    const items: StoredDoc[] = [];
    const unreadable: UnreadableDoc[] = [];
    let taken = 0;
    let pending = state.pending.map((k) => this.#base + k);
    let { next, run } = state;
    let overflow: readonly string[] = [];
    let seen: Set<string> | undefined; // only needed when a page takes more than one call
    for (let calls = 0; ; calls++) {
      const room = limit - taken;
      const got = await this.#store.run(`scan of '${this.name}'`, () =>
        this.#layout.scanPage(this.#conn, {
          run,
          pending,
          cursor: next,
          pattern: this.#pattern,
          count: Math.min(SCAN_COUNT, Math.max(10, room)),
          limit: room,
          steps: SCAN_STEPS_PER_CALL,
        }),
      );
      if (run !== null && got.run !== run) throw serverRestarted(where, run, got.run);
      run = got.run;
      if (calls > 0) seen ??= new Set(items.map((s) => this.#base + s.key));
      got.keys.forEach((full, i) => {
        if (seen?.has(full)) return;
        seen?.add(full);
        taken += 1;
        const v = got.values[i];
        const other = got.others.get(i);
        if (other !== undefined)
          unreadable.push({
            key: full.slice(base),
            reason: otherTypeReason(other, this.#layout.redisType),
          });
        if (v == null) return;
        if (isUnreadable(v)) unreadable.push({ key: full.slice(base), reason: v.reason });
        else items.push(storedDoc(full.slice(base), v));
      });
      next = got.cursor;
      overflow = seen === undefined ? got.overflow : got.overflow.filter((k) => !seen!.has(k));
      pending = [];
      if (taken >= limit || next === null) break;
    }
    return {
      items,
      ...(unreadable.length > 0 ? { unreadable } : {}),
      cursor: encodeCursor({ run, next, pending: overflow.map((k) => k.slice(base)) }),
    };
  }

  /**
   * At most MAX_PARTITIONS partitions: each one SCANs all of the collection's keys and keeps its
   * share, so every partition more is one more pass over the key names (16 partitions made a
   * backfill about 1.8 times the CPU of one). One server gains little from more: one lane
   * already overlaps the client's work with the server's (read-ahead, see scan).
   */
  async split(n: number): Promise<Range[]> {
    const of = Math.min(MAX_PARTITIONS, Math.max(1, Math.floor(n)));
    return Array.from({ length: of }, (_, part): HashPartition => ({
      id: `${part + 1}/${of}`,
      part,
      of,
    }));
  }

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    const keys = ops.map((op) => this.redisKey(op.key));
    const argv = this.#layout.encodeOps(ops);
    const raw = await this.#store.run(`write to '${this.name}'`, () =>
      this.#layout.writeScript.run(this.#conn, keys, argv),
    );
    return this.#layout.decodeResults(
      ops,
      raw,
      argv,
      `${this.#layout.kind} write to '${this.name}'`,
    );
  }

  /** Counted on the server for the whole collection (only the numbers travel); see walk(). */
  async count(range?: Range): Promise<number> {
    const part = asPartition(range);
    const where = `${this.#store.kind} count of '${this.name}' in ${this.#store.url}`;
    let n = 0;
    const restart = () => {
      n = 0;
    };
    if (part === null) {
      await this.#store.walk(where, restart, async (run, cursor) => {
        const [next, found, answeredBy] = (await this.#store.run(`count of '${this.name}'`, () =>
          COUNT_SCRIPT.run(
            this.#conn,
            [],
            [
              run ?? '',
              cursor,
              this.#pattern,
              SCAN_COUNT,
              this.#layout.redisType,
              SCAN_STEPS_PER_CALL,
            ],
          ),
        )) as [string, number, string];
        n += found;
        return { run: answeredBy, cursor: next };
      });
      return n;
    }
    await this.#store.walkKeys(where, this.#pattern, restart, async (found) => {
      for (const full of new Set(found)) {
        if (fnv1a32(full.slice(this.#base.length)) % part.of === part.part) n++;
      }
    });
    return n;
  }

  /** The keys in the collection that are not documents, by Redis type (redis-other-types.ts). */
  countNotDocuments(): Promise<Record<string, number>> {
    return countOtherTypes(this.#store, this.#conn, {
      where: `${this.#store.kind} count of '${this.name}' in ${this.#store.url}`,
      pattern: this.#pattern,
      layoutType: this.#layout.redisType,
      count: SCAN_COUNT,
      steps: SCAN_STEPS_PER_CALL,
    });
  }

  /** Delete every document of the collection (SCAN + UNLINK). */
  async drop(): Promise<void> {
    const where = `${this.#store.kind} drop of '${this.name}' in ${this.#store.url}`;
    await this.#store.walkKeys(where, this.#pattern, undefined, async (found) => {
      if (found.length > 0) await this.#store.run('drop', () => this.#conn.call('UNLINK', found));
    });
  }
}
