/**
 * The Redis adapters (ioredis): `redis://[user:pass@]host:port[/db][?prefix=sy:]` keeps one JSON
 * string per document, `redis+hash://...` one hash per document (redis-hash-adapter.ts).
 *
 *   key of a document:  <prefix><collection>:<key>     (':' and '%' in collection names are
 *                                                       written %3A and %25)
 *
 * Reads: MGET (strings) or a read-only Lua script (hashes), pipelined in chunks of 1000 keys.
 * Writes: one Lua script per batch (EVALSHA, EVAL on NOSCRIPT), atomic on the server; each op is
 * a compare-and-set on the rev of the stored value (redis-layout.ts).
 * Scans: SCAN MATCH <prefix><collection>:* TYPE <string|hash>; a page of the whole collection is
 * one script call (SCAN + read), and the next page is read ahead while the caller works.
 * `split(n)` gives at most 4 partitions by a hash of the document key (FNV-1a 32 of the UTF-8
 * bytes, modulo n): every partition runs its own SCAN over the collection's keys and keeps its
 * share. See docs/stores/redis.md for the guarantees.
 */
import { Redis } from 'ioredis';
import { StoreError, StoreUrlError } from '../../core/errors.js';
import { compareKeys } from '../../core/values.js';
import type {
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../contract.js';
import { RESERVED_PREFIX } from '../contract.js';
import { HASH_LAYOUT } from './redis-hash-adapter.js';
import {
  COUNT_SCRIPT,
  STRING_LAYOUT,
  type RedisConnection,
  type RedisLayout,
  type StoredValue,
} from './redis-layout.js';
import { redactSecrets, type ParsedStoreUrl } from '../store-url.js';

export const DEFAULT_REDIS_PREFIX = 'sy:';
export const DEFAULT_REDIS_PORT = 6379;
/** the COUNT hint of SCAN calls that look at keys only (count, listCollections, drop) */
const SCAN_COUNT = 1000;
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
};

/** A part of the keyspace: the keys whose FNV-1a 32 hash modulo `of` is `part`. */
export interface HashPartition extends Range {
  readonly part: number;
  readonly of: number;
}

export interface RedisStoreOptions {
  /** the start of every key this store reads or writes (default 'sy:') */
  prefix?: string;
  /** 'string' (redis://) or 'hash' (redis+hash://) */
  mode?: 'string' | 'hash';
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

/**
 * Where a scan stands: the SCAN cursor to call next (null: SCAN has finished) and the keys
 * SCAN already returned that did not fit in the previous page. Serialized as the bare SCAN
 * cursor when nothing is pending, as JSON {"c": cursor, "p": [keys]} otherwise.
 */
interface ScanState {
  next: string | null;
  pending: string[];
}

function decodeCursor(cursor: string | null | undefined): ScanState {
  if (cursor == null) return { next: '0', pending: [] };
  if (/^\d+$/.test(cursor)) return { next: cursor, pending: [] };
  try {
    const s = JSON.parse(cursor) as { c?: unknown; p?: unknown };
    if (
      (s.c === null || (typeof s.c === 'string' && /^\d+$/.test(s.c))) &&
      Array.isArray(s.p) &&
      s.p.every((k) => typeof k === 'string')
    ) {
      return { next: s.c, pending: s.p as string[] };
    }
  } catch {
    // fall through
  }
  throw new StoreError(`not a Redis scan cursor: ${cursor.slice(0, 80)}`);
}

function encodeCursor(state: ScanState): string | null {
  if (state.pending.length === 0) return state.next;
  return JSON.stringify({ c: state.next, p: state.pending });
}

function storedDoc(key: Key, v: StoredValue): StoredDoc {
  return v.text === undefined
    ? { key, doc: v.doc, rev: v.rev }
    : { key, doc: v.doc, rev: v.rev, text: v.text };
}

/** A page read ahead of the caller (or still being read); null when that read failed. */
interface Ahead {
  readonly started: number;
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
    if (keys.length === 0) return [];
    const values = await this.#store.run('read', () =>
      this.#layout.read(
        this.#conn,
        keys.map((k) => this.redisKey(k)),
      ),
    );
    return values.map((v, i) => (v === null ? null : storedDoc(keys[i]!, v)));
  }

  /**
   * Resume rules: the cursor holds the SCAN cursor and the keys SCAN returned that did not fit
   * in the page (at most about one SCAN reply). Those are read first on the next page; a key
   * seen twice within one page is returned once. SCAN returns every key that exists for the
   * whole scan at least once; it returns a key twice only when the keyspace shrinks (rehash)
   * between two calls, and then a page may repeat a key of an earlier page.
   *
   * Read-ahead: when a page is returned with a cursor, the page after it is read at once, so the
   * server reads it while the caller works on this one (a backfill transforms and writes). The
   * next call with that range, cursor and limit gets it, if it is under 5 s old; a read-ahead
   * that fails is forgotten and the page is read again. A page read ahead is a page read a
   * little earlier: its revs are what they were then, which conditional writes make safe.
   */
  async scan(options: ScanOptions): Promise<ScanPage> {
    const id = aheadId(options);
    const ahead = this.#ahead.get(id);
    let page: ScanPage | null = null;
    if (ahead !== undefined) {
      this.#ahead.delete(id);
      if (performance.now() - ahead.started <= READ_AHEAD_MAX_AGE_MS) page = await ahead.page;
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
      page: this.#readPage(options).catch(() => null),
    });
    if (this.#ahead.size > READ_AHEAD_ENTRIES) this.#ahead.delete(this.#ahead.keys().next().value!);
  }

  async #readPage({ range, cursor, limit }: ScanOptions): Promise<ScanPage> {
    const part = asPartition(range);
    const state = decodeCursor(cursor);
    if (part === null) return this.#readWholePage(state, limit);
    const keys: Key[] = [];
    const overflow: Key[] = [];
    const seen = new Set<Key>();
    const take = (k: Key): void => {
      if (seen.has(k)) return;
      seen.add(k);
      (keys.length < limit ? keys : overflow).push(k);
    };
    for (const k of state.pending) take(k);
    let next = state.next;
    while (keys.length < limit && next !== null) {
      const room = limit - keys.length;
      const count = Math.min(SCAN_COUNT, Math.max(10, room * (part?.of ?? 1)));
      const [c, found] = await this.#scanStep(next, count);
      next = c === '0' ? null : c;
      for (const full of found) {
        const k = full.slice(this.#base.length);
        if (part === null || fnv1a32(k) % part.of === part.part) take(k);
      }
    }
    const stored = keys.length === 0 ? [] : await this.getMany(keys);
    const items = stored.filter((s): s is StoredDoc => s !== null);
    return { items, cursor: encodeCursor({ next, pending: overflow }) };
  }

  /**
   * A page of the whole collection: the layout's page script collects the keys and reads them
   * in one call (usually one call per page; more when SCAN_STEPS_PER_CALL SCAN calls did not
   * fill it, as in a collection that is a small part of the database).
   */
  async #readWholePage(state: ScanState, limit: number): Promise<ScanPage> {
    const base = this.#base.length;
    const items: StoredDoc[] = [];
    let taken = 0;
    let pending = state.pending.map((k) => this.#base + k);
    let next = state.next;
    let overflow: readonly string[] = [];
    let seen: Set<string> | undefined; // only needed when a page takes more than one call
    for (let calls = 0; ; calls++) {
      const room = limit - taken;
      const got = await this.#store.run(`scan of '${this.name}'`, () =>
        this.#layout.scanPage(this.#conn, {
          pending,
          cursor: next,
          pattern: this.#pattern,
          count: Math.min(SCAN_COUNT, Math.max(10, room)),
          limit: room,
          steps: SCAN_STEPS_PER_CALL,
        }),
      );
      if (calls > 0) seen ??= new Set(items.map((s) => this.#base + s.key));
      got.keys.forEach((full, i) => {
        if (seen?.has(full)) return;
        seen?.add(full);
        taken += 1;
        const v = got.values[i];
        if (v != null) items.push(storedDoc(full.slice(base), v));
      });
      next = got.cursor;
      overflow = seen === undefined ? got.overflow : got.overflow.filter((k) => !seen!.has(k));
      pending = [];
      if (taken >= limit || next === null) break;
    }
    return {
      items,
      cursor: encodeCursor({ next, pending: overflow.map((k) => k.slice(base)) }),
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

  async count(range?: Range): Promise<number> {
    const part = asPartition(range);
    let n = 0;
    if (part === null) {
      // on the server: only the numbers travel
      let next = '0';
      do {
        const [c, found] = (await this.#store.run(`count of '${this.name}'`, () =>
          COUNT_SCRIPT.run(
            this.#conn,
            [],
            [next, this.#pattern, SCAN_COUNT, this.#layout.redisType, SCAN_STEPS_PER_CALL],
          ),
        )) as [string, number];
        n += found;
        next = c;
      } while (next !== '0');
      return n;
    }
    await this.#eachStep(async (found) => {
      for (const full of new Set(found)) {
        if (fnv1a32(full.slice(this.#base.length)) % part.of === part.part) n++;
      }
    });
    return n;
  }

  /** Delete every document of the collection (SCAN + UNLINK). */
  async drop(): Promise<void> {
    await this.#eachStep(async (found) => {
      if (found.length > 0) await this.#store.run('drop', () => this.#conn.call('UNLINK', found));
    });
  }

  async #eachStep(fn: (found: string[]) => Promise<void>): Promise<void> {
    let next = '0';
    do {
      const [c, found] = await this.#scanStep(next, SCAN_COUNT);
      await fn(found);
      next = c;
    } while (next !== '0');
  }

  #scanStep(cursor: string, count: number): Promise<[string, string[]]> {
    return this.#store.run(
      `scan of '${this.name}'`,
      async () =>
        (await this.#conn.call('SCAN', [
          cursor,
          'MATCH',
          this.#pattern,
          'COUNT',
          count,
          'TYPE',
          this.#layout.redisType,
        ])) as [string, string[]],
    );
  }
}

export class RedisStore implements Store {
  readonly kind: string;
  readonly prefix: string;
  readonly #conn: RedisConnection;
  readonly #layout: RedisLayout;
  readonly #collections = new Map<string, RedisCollection>();

  constructor(
    conn: RedisConnection,
    readonly url: string,
    options: RedisStoreOptions = {},
  ) {
    this.#conn = conn;
    this.#layout = options.mode === 'hash' ? HASH_LAYOUT : STRING_LAYOUT;
    this.kind = this.#layout.kind;
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  }

  /** The underlying connection, for tests and tools that must reach behind the contract. */
  get connection(): RedisConnection {
    return this.#conn;
  }

  collection(name: string): RedisCollection {
    let c = this.#collections.get(name);
    if (c === undefined) {
      c = new RedisCollection(this, this.#conn, this.#layout, name);
      this.#collections.set(name, c);
    }
    return c;
  }

  /** Every collection with at least one document: a SCAN over `<prefix>*` (the whole db). */
  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const names = new Set<string>();
    const pattern = `${globEscape(this.prefix)}*`;
    let next = '0';
    do {
      const [c, found] = (await this.run('listCollections', () =>
        this.#conn.call('SCAN', [
          next,
          'MATCH',
          pattern,
          'COUNT',
          SCAN_COUNT,
          'TYPE',
          this.#layout.redisType,
        ]),
      )) as [string, string[]];
      for (const full of found) {
        const rest = full.slice(this.prefix.length);
        const colon = rest.indexOf(':');
        if (colon >= 0) names.add(decodeCollectionName(rest.slice(0, colon)));
      }
      next = c;
    } while (next !== '0');
    return [...names]
      .filter((n) => options.includeReserved === true || !n.startsWith(RESERVED_PREFIX))
      .sort(compareKeys);
  }

  async dropCollection(name: string): Promise<void> {
    await this.collection(name).drop();
  }

  /**
   * Batches to several collections as one Lua script: all ops are decided and applied together
   * (no other client's command runs in between), in order, each conditional on its own.
   */
  async writeAtomic(
    batches: readonly { collection: string; ops: readonly WriteOp[] }[],
  ): Promise<WriteResult[][]> {
    const all = batches.flatMap((b) =>
      b.ops.map((op) => ({ c: this.collection(b.collection), op })),
    );
    if (all.length === 0) return batches.map(() => []);
    const ops = all.map((x) => x.op);
    const argv = this.#layout.encodeOps(ops);
    const raw = await this.run('atomic write', () =>
      this.#layout.writeScript.run(
        this.#conn,
        all.map(({ c, op }) => c.redisKey(op.key)),
        argv,
      ),
    );
    const results = this.#layout.decodeResults(ops, raw, argv, `${this.kind} atomic write`);
    let i = 0;
    return batches.map((b) => b.ops.map(() => results[i++]!));
  }

  async close(): Promise<void> {
    try {
      await this.#conn.quit();
    } catch {
      this.#conn.disconnect();
    }
  }

  /** Run a Redis call; failures become StoreErrors that name the store (password redacted). */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        `${this.kind} ${what} in ${this.url} failed: ${redactSecrets((err as Error).message)}`,
        { cause: err },
      );
    }
  }
}

const URL_PARAMS = ['prefix'];

/** Connect to `redis://` or `redis+hash://` (parsed by store-url.ts); fails fast when unreachable. */
export async function openRedisStore(parsed: ParsedStoreUrl): Promise<RedisStore> {
  const url = parsed.url!;
  const fail = (why: string): never => {
    throw new StoreUrlError(`invalid store URL '${parsed.redacted}': ${why}`, { field: 'store' });
  };
  for (const name of url.searchParams.keys()) {
    if (!URL_PARAMS.includes(name))
      fail(`unknown parameter '${name}' (known: ${URL_PARAMS.join(', ')})`);
  }
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) fail(`'${dbText}' is not a database number`);
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  const db = dbText === '' ? 0 : Number(dbText);
  const client = new Redis({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => (times > 10 ? null : Math.min(times * 200, 2000)),
  });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await client.connect();
    await client.call('PING');
    // ioredis reports a failed SELECT only as an 'error' event and goes on in database 0
    if (db !== 0) await client.call('SELECT', db);
  } catch (err) {
    const msg = (err as Error).message || lastError?.message || String(err);
    if (/DB index is out of range/i.test(msg)) {
      const count = await client.call('CONFIG', 'GET', 'databases').catch(() => undefined);
      client.disconnect();
      const n = Array.isArray(count) ? Number(count[1]) : NaN;
      fail(
        `database ${db} does not exist on this server${Number.isInteger(n) ? `: it has ${n} (0 to ${n - 1})` : ''}. Use one of its databases (redis.conf 'databases' sets how many)`,
      );
    }
    client.disconnect();
    throw new StoreError(`cannot connect to ${parsed.redacted}: ${redactSecrets(msg)}`, {
      cause: err,
    });
  }
  const prefix = url.searchParams.get('prefix') ?? DEFAULT_REDIS_PREFIX;
  return new RedisStore(client as unknown as RedisConnection, parsed.redacted, {
    prefix,
    mode: parsed.scheme === 'redis+hash' ? 'hash' : 'string',
  });
}
