/**
 * How documents sit in Redis, for the two Redis adapters (see docs/stores/redis.md):
 *
 *   redis://       one string per document: the storage JSON of core/values.ts (plain JSON where
 *                  exact, canonical EJSON wrappers elsewhere). rev = sha1 hex of the stored bytes
 *                  (redis-string-layout.ts).
 *   redis+hash://  one hash per document (redis-hash-adapter.ts).
 *
 * Both revs are pure functions of what is stored, so a plain `SET`/`HSET` by the application is
 * a change like any other. Conditional writes run as one Lua script per batch that recomputes
 * the rev of each stored value and compares it before writing (compare-and-set).
 */
import { hash } from 'node:crypto';
import { StoreError } from '../../core/errors.js';
import type { Doc } from '../../core/values.js';
import type { UnreadableDoc, WriteOp, WriteResult } from '../contract.js';

/** What the Redis adapters use of a client (ioredis implements it). */
export interface RedisConnection {
  call(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  callBuffer(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  /** the client's connection events: 'close', 'error', 'ready' (see redis-connection.ts) */
  on(event: 'close' | 'error' | 'ready', listener: (...args: unknown[]) => void): unknown;
}

export interface StoredValue {
  readonly doc: Doc;
  readonly rev: string;
  /** the stored text, when the layout holds the document as text (see StoredDoc.text) */
  readonly text?: string;
}

/** What one call of a layout's page script found (see SCAN_KEYS). */
export interface ScannedPage {
  /** the run id of the server that answered; when it is not the one asked for, nothing was read */
  readonly run: string;
  /** the SCAN cursor to continue from, or null when SCAN has finished */
  readonly cursor: string | null;
  /** the page's keys (full Redis keys), each once, and their values (null: gone meanwhile) */
  readonly keys: readonly string[];
  readonly values: readonly (StoredValue | UnreadableDoc | null)[];
  /** keys SCAN returned beyond the page's limit, not read */
  readonly overflow: readonly string[];
  /** the Redis type of the page's keys of another type than the layout's, by index in `keys` */
  readonly others: ReadonlyMap<number, string>;
}

/** The arguments of a page script call. */
export interface ScanPageArgs {
  /**
   * the run id of the server the cursor belongs to (null: a walk that starts now); a server with
   * another run id reads nothing and answers with its own (see SERVER_RUN)
   */
  readonly run: string | null;
  /** keys to take first (left over from the previous page), full Redis keys */
  readonly pending: readonly string[];
  /** the SCAN cursor to continue from; null when SCAN has finished */
  readonly cursor: string | null;
  readonly pattern: string;
  /** the COUNT hint of each SCAN call */
  readonly count: number;
  /** the most keys in the page */
  readonly limit: number;
  /** the most SCAN calls in this script call (bounds how long the server is busy) */
  readonly steps: number;
}

export interface RedisLayout {
  /** the Store kind: 'redis' or 'redis+hash' */
  readonly kind: string;
  /** the Redis type of a document key */
  readonly redisType: 'string' | 'hash';
  /**
   * read documents by full Redis key, in one call per READ_CHUNK keys; null where absent; a key
   * of another Redis type (redis-other-types.ts), or a value of the layout's type that is not a
   * document, is an UnreadableDoc (its key the full Redis key)
   */
  read(
    conn: RedisConnection,
    fullKeys: readonly string[],
  ): Promise<(StoredValue | UnreadableDoc | null)[]>;
  /** the script that applies a batch; one reply per op (see decodeWriteResults) */
  readonly writeScript: LuaScript;
  /** the ARGV of a batch for `writeScript` */
  encodeOps(ops: readonly WriteOp[]): string[];
  /** the results of a batch from the script's reply and the ARGV it was sent */
  decodeResults(
    ops: readonly WriteOp[],
    reply: unknown,
    argv: readonly string[],
    where: string,
  ): WriteResult[];
  /**
   * collect a page of keys with SCAN (of every type) and read their documents, in one script
   * call; keys of another type come back in `others` (see OTHERS)
   */
  scanPage(conn: RedisConnection, args: ScanPageArgs): Promise<ScannedPage>;
}

export function sha1(data: string | Buffer): string {
  // the one-shot API: about 3x cheaper than createHash() for document-sized inputs
  return hash('sha1', data, 'hex');
}

/**
 * A Lua script run with EVALSHA, falling back to EVAL (which also caches it on the server) when
 * the server does not know it yet (NOSCRIPT: first use, after SCRIPT FLUSH or a restart).
 */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = sha1(source);
  }

  /** Run the script; with `buffers`, bulk strings in the reply come back as Buffers. */
  async run(
    conn: RedisConnection,
    keys: readonly string[],
    args: readonly (string | number)[],
    buffers = false,
  ): Promise<unknown> {
    const call = (command: string, head: string) => {
      const argv: (string | number)[] = [head, keys.length];
      for (const k of keys) argv.push(k);
      for (const a of args) argv.push(a);
      return buffers ? conn.callBuffer(command, argv) : conn.call(command, argv);
    };
    try {
      return await call('EVALSHA', this.sha);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message ?? '')) throw err;
      return call('EVAL', this.source);
    }
  }
}

/**
 * The start of every script that walks the keyspace with SCAN: `run` is the run id of this
 * server process (INFO server). A SCAN cursor means something only to the process that handed
 * it out: a restarted server, or a replica promoted by a failover, hashes keys with another
 * seed, and continuing an old cursor there skips and repeats keys at random. So a script given
 * the run id its cursor belongs to (ARGV[1], '' for a walk that starts now) compares it with
 * `run` before calling SCAN, in the same atomic call, and when they differ does nothing but
 * answer with `run`. (A DEBUG RELOAD keeps the process and its seed; SCAN survives it as it
 * survives any table resize.)
 */
export const SERVER_RUN = `
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local stale = ARGV[1] ~= '' and ARGV[1] ~= run
local function scan(cursor, pattern, count, type)
  if type == '' then return redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count) end
  return redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count, 'TYPE', type)
end
`;

/**
 * The start of the layouts' page scripts: SERVER_RUN, then collect up to `limit` distinct keys,
 * first the ones the previous page left over (KEYS), then from at most `steps` SCAN calls.
 * Leaves `cursor` ('' once SCAN has finished), `keys` (the page) and `overflow` (keys SCAN
 * returned beyond the limit). ARGV: run (''), cursor (''), MATCH pattern, COUNT, TYPE ('': keys
 * of every type, as the layouts ask, see OTHERS), limit, steps. A stale run returns {'', {}, {}, {}, run} at once. The keys SCAN finds are not
 * declared in KEYS, which standalone Redis allows (Redis Cluster is not supported).
 */
export const SCAN_KEYS = `${SERVER_RUN}
if stale then return {'', {}, {}, {}, run} end
local limit, steps = tonumber(ARGV[6]), tonumber(ARGV[7])
local keys, overflow, n = {}, {}, 0
-- the keys left over come first; SCAN may return them again only if the keyspace shrank since.
-- SCAN calls within one script call never repeat a key (nothing is resized meanwhile).
local seen = false
if #KEYS > 0 then seen = {} end
for i = 1, #KEYS do
  local k = KEYS[i]
  if not seen[k] then
    seen[k] = true
    if n < limit then n = n + 1; keys[n] = k else overflow[#overflow + 1] = k end
  end
end
local cursor = ARGV[2]
while n < limit and cursor ~= '' and steps > 0 do
  local r = scan(cursor, ARGV[3], ARGV[4], ARGV[5])
  if r[1] == '0' then cursor = '' else cursor = r[1] end
  steps = steps - 1
  local found = r[2]
  for i = 1, #found do
    local k = found[i]
    if not (seen and seen[k]) then
      if n < limit then n = n + 1; keys[n] = k else overflow[#overflow + 1] = k end
    end
  end
end
`;

/**
 * The end of the layouts' page scripts, after their read: `others` = {i, type, ...} for each key
 * of the page whose read found nothing (`found` false for `keys[i]`) and whose type is neither
 * 'none' (deleted meanwhile) nor `layoutType`: a key of another type inside the collection
 * (redis-other-types.ts). Costs a TYPE call only where a read missed.
 */
export function othersLua(found: string, layoutType: string): string {
  return `
local others = {}
for i = 1, #keys do
  if not (${found}) then
    local t = redis.call('TYPE', keys[i])['ok']
    if t ~= 'none' and t ~= '${layoutType}' then others[#others + 1] = i; others[#others + 1] = t end
  end
end
`;
}

/**
 * The start of the layouts' write scripts: `othertype(key)` (the key exists with another Redis
 * type than `layoutType`) and `wrongtype(key)` (the error reply that refuses the batch, naming
 * the key and its type; nothing is written).
 */
export function wrongTypeLua(layoutType: string): string {
  return `
local function othertype(key)
  local t = redis.call('TYPE', key)['ok']
  return t ~= 'none' and t ~= '${layoutType}'
end
local function wrongtype(key)
  local t = redis.call('TYPE', key)['ok']
  return redis.error_reply('WRONGTYPE switchyard: ' .. key .. ' holds a ' .. t .. ', not a ${layoutType}')
end
`;
}

/** The ARGV of a page script call (see SCAN_KEYS): SCAN of every type. */
export function scanPageArgv(args: ScanPageArgs): (string | number)[] {
  return [args.run ?? '', args.cursor ?? '', args.pattern, args.count, '', args.limit, args.steps];
}

/** bulk strings of a reply read as text or as Buffers, as text */
const text = (x: unknown): string => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x));

/**
 * Split a page script's reply `{cursor, keys, values, overflow, run, others}` (bulk strings as
 * text or Buffers; `others` absent from a stale run's reply).
 */
export function splitPageReply(
  reply: unknown,
  where: string,
): Omit<ScannedPage, 'values'> & { values: unknown[] } {
  if (!Array.isArray(reply) || reply.length < 5) {
    throw new StoreError(`${where}: unexpected reply from the page script`);
  }
  const cursor = text(reply[0]);
  const others = new Map<number, string>();
  const flat = (reply[5] ?? []) as unknown[];
  for (let i = 0; i + 1 < flat.length; i += 2) others.set(Number(flat[i]) - 1, text(flat[i + 1]));
  return {
    run: text(reply[4]),
    cursor: cursor === '' ? null : cursor,
    keys: (reply[1] as unknown[]).map(text),
    values: reply[2] as unknown[],
    overflow: (reply[3] as unknown[]).map(text),
    others,
  };
}

/**
 * One SCAN call, with SERVER_RUN's check: ARGV: run (''), cursor, MATCH pattern, COUNT, TYPE
 * ('': every type). Returns {cursor, keys, run}; a stale run returns {'0', {}, run} without
 * scanning.
 */
export const SCAN_STEP_SCRIPT = new LuaScript(`${SERVER_RUN}
if stale then return {'0', {}, run} end
local r = scan(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return {r[1], r[2], run}
`);

/**
 * Count a collection's keys on the server (only the number travels): at most `steps` SCAN calls
 * per script call, with SERVER_RUN's check. ARGV: run (''), cursor, MATCH pattern, COUNT, TYPE,
 * steps. Returns {cursor, n, run}; a stale run returns {'0', 0, run} without scanning.
 */
export const COUNT_SCRIPT = new LuaScript(`${SERVER_RUN}
if stale then return {'0', 0, run} end
local cursor, n, steps = ARGV[2], 0, tonumber(ARGV[6])
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[3], 'COUNT', ARGV[4], 'TYPE', ARGV[5])
  cursor = r[1]
  n = n + #r[2]
  steps = steps - 1
until cursor == '0' or steps == 0
return {cursor, n, run}
`);

/**
 * The condition of an op as one script argument: 'u' (unconditional), 'a' (must be absent), or
 * the rev itself. Revs are 40 hex digits; a foreign ifRev that reads 'u' or 'a' is sent as 'x'
 * plus itself, which matches no rev (a conflict, as for any rev that is not current).
 */
export function encodeCondition(op: WriteOp): string {
  if (op.ifRev === undefined) return 'u';
  if (op.ifRev === null) return 'a';
  return op.ifRev === 'u' || op.ifRev === 'a' ? `x${op.ifRev}` : op.ifRev;
}

/**
 * Turn the script's per-op replies into WriteResults: 1 (applied; the new rev of a put is
 * `putRev(i)`, computed by the client), 'o<rev>' (applied, new rev from the server) or
 * 'c<currentRev>' (a conflict; 'c' alone: the key is absent).
 */
export function decodeWriteResults(
  ops: readonly WriteOp[],
  raw: unknown,
  where: string,
  putRev?: (i: number) => string,
): WriteResult[] {
  if (!Array.isArray(raw) || raw.length !== ops.length) {
    throw new StoreError(`${where}: unexpected reply from the write script`);
  }
  return ops.map((op, i): WriteResult => {
    const x: unknown = raw[i];
    if (x === 1 && putRev !== undefined)
      return { key: op.key, ok: true, rev: op.type === 'put' ? putRev(i) : null };
    const r = String(x);
    const rev = r.length > 1 ? r.slice(1) : null;
    if (r.startsWith('o')) return { key: op.key, ok: true, rev: op.type === 'put' ? rev : null };
    if (r.startsWith('c')) return { key: op.key, ok: false, reason: 'conflict', currentRev: rev };
    throw new StoreError(`${where}: unexpected reply from the write script`);
  });
}

/** keys per MGET / read-script call (the calls of one read are pipelined) */
export const READ_CHUNK = 1000;
