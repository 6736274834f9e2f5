/**
 * redis://: one string per document, the storage JSON of core/values.ts; rev = sha1 hex of the
 * stored bytes (redis-layout.ts has what both Redis layouts share).
 */
import { toStorageJSON } from '../../core/values.js';
import type { UnreadableDoc } from '../contract.js';
import { otherTypeReason } from './redis-other-types.js';
import { decodeDocText, readOrUnreadable } from '../decode-doc.js';
import {
  decodeWriteResults,
  encodeCondition,
  LuaScript,
  othersLua,
  wrongTypeLua,
  READ_CHUNK,
  SCAN_KEYS,
  scanPageArgv,
  sha1,
  splitPageReply,
  type RedisLayout,
  type StoredValue,
} from './redis-layout.js';

/**
 * The write script of the string layout. ARGV per op: kind ('p' | 'd', or 'k': a guard, which
 * writes nothing and when its condition fails ends the script with 'g<current rev>' before
 * anything is written: it is always the first op), condition, value.
 * A first pass reads the stored values the conditions need (GET through pcall: a key of
 * another type answers WRONGTYPE) and type-checks the unconditional ops, so a batch touching a
 * key of another type fails before anything is written, at one command per key. The second pass
 * decides and writes op by op, in order; a key already written by this batch is read again.
 * Replies 1 per applied op (the client knows the new rev: the sha1 of the bytes it sent) and
 * 'c<current rev>' per conflict.
 */
const STRING_WRITE = `${wrongTypeLua('string')}
local stored = {}
for i = 1, #KEYS do
  if ARGV[3 * i - 1] == 'u' then
    if othertype(KEYS[i]) then return wrongtype(KEYS[i]) end
  else
    local v = redis.pcall('GET', KEYS[i])
    if type(v) == 'table' then return wrongtype(KEYS[i]) end
    stored[i] = v
  end
end
local out, written = {}, {}
for i = 1, #KEYS do
  local key, kind, cond = KEYS[i], ARGV[3 * i - 2], ARGV[3 * i - 1]
  local cur = false
  if cond ~= 'u' then
    local v = stored[i]
    if written[key] then v = redis.call('GET', key) end
    if v then cur = redis.sha1hex(v) end
  end
  if (cond == 'a' and cur) or (cond ~= 'u' and cond ~= 'a' and cur ~= cond) then
    -- a guard (WriteGuard; always the first op) that fails: nothing is written
    if kind == 'k' then return 'g' .. (cur or '') end
    out[i] = 'c' .. (cur or '')
  elseif kind == 'k' then
    out[i] = 'o'
  elseif kind == 'p' then
    redis.call('SET', key, ARGV[3 * i], 'KEEPTTL')
    out[i] = 1
    written[key] = true
  else
    redis.call('DEL', key)
    out[i] = 1
    written[key] = true
  end
end
return out
`;

/**
 * The string layout's read: GET of each key, as MGET would, but a key of another type answers
 * {its type} instead of nil (MGET cannot tell it from an absent key), in the same call.
 */
const STRING_READ = new LuaScript(`
local out = {}
for i = 1, #KEYS do
  local v = redis.pcall('GET', KEYS[i])
  if type(v) == 'table' and v.err then v = {redis.call('TYPE', KEYS[i])['ok']} end
  out[i] = v
end
return out
`);

/** The string layout's page script: SCAN_KEYS, then MGET of the page's keys, then OTHERS. */
const STRING_PAGE = new LuaScript(`${SCAN_KEYS}
local values = {}
for i = 1, #keys, 1000 do
  local got = redis.call('MGET', unpack(keys, i, math.min(i + 999, #keys)))
  for j = 1, #got do values[i + j - 1] = got[j] end
end
${othersLua('values[i]', 'string')}
return {cursor, keys, values, overflow, run, others}
`);

/**
 * A stored string as a StoredValue: the rev is the sha1 of its exact bytes. A string that is not
 * a document (not JSON, a JSON array) is an UnreadableDoc naming the key (decode-doc.ts).
 */
function stringValue(buf: Buffer, fullKey: string): StoredValue | UnreadableDoc {
  const text = buf.toString('utf8');
  return readOrUnreadable(fullKey, () => ({
    doc: decodeDocText(text, fullKey, 'redis'),
    rev: sha1(buf),
    text,
  }));
}

/** redis://: one string per document, rev = sha1 of the stored bytes. */
export const STRING_LAYOUT: RedisLayout = {
  kind: 'redis',
  redisType: 'string',
  writeScript: new LuaScript(STRING_WRITE),

  encodeOps(ops) {
    const argv: string[] = [];
    for (const op of ops)
      argv.push(
        op.type === 'put' ? 'p' : 'd',
        encodeCondition(op),
        op.type === 'put' ? toStorageJSON(op.doc) : '',
      );
    return argv;
  },

  decodeResults(ops, reply, argv, where) {
    // the rev of a put is the sha1 of the text sent: Redis stores its UTF-8 bytes, which is
    // what crypto hashes a string as
    return decodeWriteResults(ops, reply, where, (i) => sha1(argv[3 * i + 2]!));
  },

  async read(conn, fullKeys) {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < fullKeys.length; i += READ_CHUNK) {
      chunks.push(STRING_READ.run(conn, fullKeys.slice(i, i + READ_CHUNK), [], true));
    }
    const values = (await Promise.all(chunks)).flat() as (Buffer | null | [Buffer])[];
    return values.map((v, i) => {
      if (v === null) return null;
      const key = fullKeys[i]!;
      return Array.isArray(v)
        ? { key, reason: otherTypeReason(v[0].toString('utf8'), 'string') }
        : stringValue(v, key);
    });
  },

  async scanPage(conn, args) {
    const reply = await STRING_PAGE.run(conn, args.pending, scanPageArgv(args), true);
    const page = splitPageReply(reply, 'redis scan');
    return {
      ...page,
      values: page.keys.map((k, i) => {
        const buf = page.values[i] as Buffer | null | undefined;
        return buf == null ? null : stringValue(buf, k);
      }),
    };
  },
};
