/**
 * How documents sit in Redis, for the two Redis adapters (see docs/stores/redis.md):
 *
 *   redis://       one string per document: the storage JSON of core/values.ts (plain JSON where
 *                  exact, canonical EJSON wrappers elsewhere). rev = sha1 hex of the stored bytes.
 *   redis+hash://  one hash per document (redis-hash-adapter.ts).
 *
 * Both revs are pure functions of what is stored, so a plain `SET`/`HSET` by the application is
 * a change like any other. Conditional writes run as one Lua script per batch that recomputes
 * the rev of each stored value and compares it before writing (compare-and-set).
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../core/errors.js';
import { fromStorageJSON, isPlainObject, toStorageJSON, type Doc } from '../core/values.js';
import type { WriteOp, WriteResult } from './contract.js';

/** What the Redis adapters use of a client (ioredis implements it). */
export interface RedisConnection {
  call(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  callBuffer(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface StoredValue {
  readonly doc: Doc;
  readonly rev: string;
}

export interface RedisLayout {
  /** the Store kind: 'redis' or 'redis+hash' */
  readonly kind: string;
  /** the Redis type of a document key, for `SCAN ... TYPE` */
  readonly redisType: 'string' | 'hash';
  /** read documents by full Redis key; null where absent (or of another Redis type) */
  read(conn: RedisConnection, fullKeys: readonly string[]): Promise<(StoredValue | null)[]>;
  /** the script that applies a batch; returns one 'o<rev>' / 'c<currentRev>' string per op */
  readonly writeScript: LuaScript;
  /** the ARGV entries of one op for `writeScript` */
  encodeOp(op: WriteOp): string[];
}

export function sha1(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
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

  async run(
    conn: RedisConnection,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const tail = [keys.length, ...keys, ...args];
    try {
      return await conn.call('EVALSHA', [this.sha, ...tail]);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message ?? '')) throw err;
      return conn.call('EVAL', [this.source, ...tail]);
    }
  }
}

/** The condition of an op as one script argument: u(nconditional), a(bsent), r<rev>. */
export function encodeCondition(op: WriteOp): string {
  if (op.ifRev === undefined) return 'u';
  if (op.ifRev === null) return 'a';
  return `r${op.ifRev}`;
}

/** Turn the script's per-op strings into WriteResults. */
export function decodeWriteResults(
  ops: readonly WriteOp[],
  raw: unknown,
  where: string,
): WriteResult[] {
  if (!Array.isArray(raw) || raw.length !== ops.length) {
    throw new StoreError(`${where}: unexpected reply from the write script`);
  }
  return ops.map((op, i): WriteResult => {
    const r = String(raw[i]);
    const rev = r.length > 1 ? r.slice(1) : null;
    if (r.startsWith('o')) return { key: op.key, ok: true, rev: op.type === 'put' ? rev : null };
    return { key: op.key, ok: false, reason: 'conflict', currentRev: rev };
  });
}

/** Decode stored document text; anything but a JSON object is reported with its key. */
export function decodeDocText(text: string, fullKey: string): Doc {
  let v: unknown;
  try {
    v = fromStorageJSON(text);
  } catch (err) {
    throw new StoreError(
      `redis key '${fullKey}' does not hold a JSON document: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!isPlainObject(v)) {
    throw new StoreError(`redis key '${fullKey}' holds JSON that is not an object`);
  }
  return v as Doc;
}

const STRING_WRITE = `
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= 'string' then
    return redis.error_reply('WRONGTYPE switchyard: ' .. KEYS[i] .. ' holds a ' .. t .. ', not a string')
  end
end
local out = {}
for i = 1, #KEYS do
  local key, kind, cond = KEYS[i], ARGV[3 * i - 2], ARGV[3 * i - 1]
  local cur = false
  if cond ~= 'u' then
    local stored = redis.call('GET', key)
    if stored then cur = redis.sha1hex(stored) end
  end
  if (cond == 'a' and cur) or (cond ~= 'u' and cond ~= 'a' and cur ~= string.sub(cond, 2)) then
    out[i] = 'c' .. (cur or '')
  elseif kind == 'p' then
    redis.call('SET', key, ARGV[3 * i], 'KEEPTTL')
    out[i] = 'o' .. redis.sha1hex(ARGV[3 * i])
  else
    redis.call('DEL', key)
    out[i] = 'o'
  end
end
return out
`;

/** redis://: one string per document, rev = sha1 of the stored bytes. */
export const STRING_LAYOUT: RedisLayout = {
  kind: 'redis',
  redisType: 'string',
  writeScript: new LuaScript(STRING_WRITE),

  encodeOp(op) {
    return [
      op.type === 'put' ? 'p' : 'd',
      encodeCondition(op),
      op.type === 'put' ? toStorageJSON(op.doc) : '',
    ];
  },

  async read(conn, fullKeys) {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < fullKeys.length; i += READ_CHUNK) {
      chunks.push(conn.callBuffer('MGET', fullKeys.slice(i, i + READ_CHUNK)));
    }
    const values = (await Promise.all(chunks)).flat() as (Buffer | null)[];
    return values.map((buf, i) =>
      buf === null
        ? null
        : { doc: decodeDocText(buf.toString('utf8'), fullKeys[i]!), rev: sha1(buf) },
    );
  },
};

/** keys per MGET / read-script call (the calls of one read are pipelined) */
export const READ_CHUNK = 1000;
