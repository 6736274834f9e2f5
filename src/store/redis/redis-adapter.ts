/**
 * The Redis adapters (ioredis): `redis://[user:pass@]host:port[/db][?prefix=sy:]` keeps one JSON
 * string per document, `redis+hash://...` one hash per document (redis-hash-adapter.ts).
 *
 * Reads: MGET (strings) or a read-only Lua script (hashes), pipelined in chunks of 1000 keys.
 * Writes: one Lua script per batch (EVALSHA, EVAL on NOSCRIPT), atomic on the server; each op is
 * a compare-and-set on the rev of the stored value (redis-layout.ts).
 * Collections, scans and partitions: redis-collection.ts. The connection, and what its failures
 * are called: redis-connection.ts. Cursors and the server's run id: redis-cursor.ts.
 * See docs/stores/redis.md for the guarantees.
 */
import { StoreError, StoreUrlError, errorMessage } from '../../core/errors.js';
import type { Store, WriteGuard, WriteOp, WriteResult } from '../contract.js';
import { CollectionsByName, listedCollections } from '../collections-by-name.js';
import { WriteGuardError } from '../store-errors.js';
import {
  decodeCollectionName,
  globEscape,
  RedisCollection,
  SCAN_COUNT,
} from './redis-collection.js';
import { STRING_LAYOUT } from './redis-string-layout.js';
import { HASH_LAYOUT } from './redis-hash-adapter.js';
import {
  ConnectionWatch,
  connectRedis,
  DEFAULT_REDIS_PORT,
  redisFailure,
} from './redis-connection.js';
import { serverRestarted } from './redis-cursor.js';
import { SCAN_STEP_SCRIPT, type RedisConnection, type RedisLayout } from './redis-layout.js';
import type { ParsedStoreUrl } from '../store-url.js';

export { DEFAULT_REDIS_PORT };
export const DEFAULT_REDIS_PREFIX = 'sy:';
/** how many times a walk that finishes in one call (count, drop, ...) starts again after the
 * server restarted under it, before it gives up */
const MAX_WALK_RESTARTS = 5;

export interface RedisStoreOptions {
  /** the start of every key this store reads or writes (default 'sy:') */
  prefix?: string;
  /** 'string' (redis://) or 'hash' (redis+hash://) */
  mode?: 'string' | 'hash';
}

export class RedisStore implements Store {
  readonly kind: string;
  readonly prefix: string;
  readonly #conn: RedisConnection;
  readonly #layout: RedisLayout;
  readonly #watch: ConnectionWatch;
  readonly #collections = new CollectionsByName<RedisCollection>(
    (name) => new RedisCollection(this, this.#conn, this.#layout, name),
  );

  constructor(
    conn: RedisConnection,
    readonly url: string,
    options: RedisStoreOptions = {},
  ) {
    this.#conn = conn;
    this.#watch = new ConnectionWatch(conn);
    this.#layout = options.mode === 'hash' ? HASH_LAYOUT : STRING_LAYOUT;
    this.kind = this.#layout.kind;
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  }

  /** connections lost so far (a page read ahead before a loss is read again) */
  get closes(): number {
    return this.#watch.closes;
  }

  /** The underlying connection, for tests and tools that must reach behind the contract. */
  get connection(): RedisConnection {
    return this.#conn;
  }

  collection(name: string): RedisCollection {
    return this.#collections.get(name);
  }

  /** Every collection with at least one document: a SCAN over `<prefix>*` (the whole db). */
  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const names = new Set<string>();
    const where = `${this.kind} listCollections in ${this.url}`;
    const restart = () => names.clear();
    await this.walkKeys(where, `${globEscape(this.prefix)}*`, restart, async (found) => {
      for (const full of found) {
        const rest = full.slice(this.prefix.length);
        const colon = rest.indexOf(':');
        if (colon >= 0) names.add(decodeCollectionName(rest.slice(0, colon)));
      }
    });
    return listedCollections(names, options);
  }

  async dropCollection(name: string): Promise<void> {
    await this.collection(name).drop();
  }

  /**
   * Batches to several collections as one Lua script: all ops are decided and applied together
   * (no other client's command runs in between), in order, each conditional on its own. A guard
   * goes first as an op of kind 'k' (the layouts' write scripts): when it fails the script
   * writes nothing and answers 'g<current rev>'.
   */
  async writeAtomic(
    batches: readonly { collection: string; ops: readonly WriteOp[] }[],
    guard?: WriteGuard,
  ): Promise<WriteResult[][]> {
    const check: { c: RedisCollection; op: WriteOp }[] =
      guard === undefined
        ? []
        : [
            {
              c: this.collection(guard.collection),
              op: { type: 'delete', key: guard.key, ifRev: guard.rev },
            },
          ];
    const all = [
      ...check,
      ...batches.flatMap((b) => b.ops.map((op) => ({ c: this.collection(b.collection), op }))),
    ];
    if (all.length === check.length) return batches.map(() => []);
    const ops = all.map((x) => x.op);
    const argv = this.#layout.encodeOps(ops);
    if (guard !== undefined) argv[0] = 'k';
    const raw = await this.run('atomic write', () =>
      this.#layout.writeScript.run(
        this.#conn,
        all.map(({ c, op }) => c.redisKey(op.key)),
        argv,
      ),
    );
    if (guard !== undefined && typeof raw === 'string' && raw.startsWith('g'))
      throw new WriteGuardError(guard, raw.length > 1 ? raw.slice(1) : null);
    const results = this.#layout
      .decodeResults(ops, raw, argv, `${this.kind} atomic write`)
      .slice(check.length);
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

  /**
   * Run a Redis call; failures become StoreErrors that name the store (password redacted) and
   * say what happened (redis-connection.ts): StoreUnreachableError, StoreAuthError, StoreError.
   */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw redisFailure(err, `${this.kind} ${what} in ${this.url} failed`, this.#watch.lastError);
    }
  }

  /**
   * One SCAN call of `pattern` (keys of `type`: by default the adapter's; '' every type),
   * refused by another run than `run`.
   */
  async scanStep(
    pattern: string,
    count: number,
    run: string | null,
    cursor: string,
    type: string = this.#layout.redisType,
  ): Promise<{ run: string; cursor: string; keys: string[] }> {
    const [next, keys, answeredBy] = (await this.run('scan', () =>
      SCAN_STEP_SCRIPT.run(this.#conn, [], [run ?? '', cursor, pattern, count, type]),
    )) as [string, string[], string];
    return { run: answeredBy, cursor: next, keys };
  }

  /**
   * Walk SCAN from its start to its end, one `step(run, cursor)` (a script call that checks the
   * run id, see redis-layout.ts SERVER_RUN) at a time. Restart rules: a step answered by another
   * server process than the walk's first did nothing; `restart()` forgets what the walk gathered
   * and the walk begins again, at most MAX_WALK_RESTARTS times, then CursorInvalidatedError.
   */
  async walk(
    where: string,
    restart: (() => void) | undefined,
    step: (run: string | null, cursor: string) => Promise<{ run: string; cursor: string }>,
  ): Promise<void> {
    let run: string | null = null;
    let cursor = '0';
    for (let restarts = 0; ;) {
      const got = await step(run, cursor);
      if (run !== null && got.run !== run) {
        if (++restarts > MAX_WALK_RESTARTS) throw serverRestarted(where, run, got.run);
        restart?.();
        run = null;
        cursor = '0';
        continue;
      }
      run = got.run;
      cursor = got.cursor;
      if (cursor === '0') return;
    }
  }

  /** walk() over the keys of `pattern`, handing each SCAN reply's keys to `each`. */
  walkKeys(
    where: string,
    pattern: string,
    restart: (() => void) | undefined,
    each: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    return this.walk(where, restart, async (run, cursor) => {
      const step = await this.scanStep(pattern, SCAN_COUNT, run, cursor);
      if (run === null || step.run === run) await each(step.keys);
      return step;
    });
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
  const decoded = (part: string, what: string): string | undefined => {
    if (part === '') return undefined;
    try {
      return decodeURIComponent(part);
    } catch {
      return fail(`the ${what} is not valid percent-encoding (write '%' as %25)`);
    }
  };
  const username = decoded(url.username, 'user name');
  const password = decoded(url.password, 'password');
  const db = dbText === '' ? 0 : Number(dbText);
  const client = await connectRedis(parsed, {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port),
    db,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  });
  if (db !== 0) await selectExisting(client, db, parsed, fail);
  const prefix = url.searchParams.get('prefix') ?? DEFAULT_REDIS_PREFIX;
  return new RedisStore(client, parsed.redacted, {
    prefix,
    mode: parsed.scheme === 'redis+hash' ? 'hash' : 'string',
  });
}

/**
 * SELECT `db`, or refuse a database the server does not have (ioredis reports a failed SELECT
 * only as an 'error' event and goes on in database 0, so /99 would write into database 0).
 */
async function selectExisting(
  client: RedisConnection,
  db: number,
  parsed: ParsedStoreUrl,
  fail: (why: string) => never,
): Promise<void> {
  try {
    await client.call('SELECT', [db]);
  } catch (err) {
    if (!/DB index is out of range/i.test(errorMessage(err))) {
      client.disconnect();
      throw redisFailure(err, `cannot connect to ${parsed.redacted}`, undefined);
    }
    const count = await client.call('CONFIG', ['GET', 'databases']).catch(() => undefined);
    client.disconnect();
    const n = Array.isArray(count) ? Number(count[1]) : NaN;
    fail(
      `database ${db} does not exist on this server${Number.isInteger(n) ? `: it has ${n} (0 to ${n - 1})` : ''}. Use one of its databases (redis.conf 'databases' sets how many)`,
    );
  }
}
