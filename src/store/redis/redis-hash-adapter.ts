/**
 * redis+hash://: one Redis hash per document, one field per top-level attribute, so that
 * application code using HGET/HSET sees its own fields (see docs/stores/redis.md).
 *
 * Field values:
 *   - a string is stored as itself, unless it could be mistaken for an encoded value (it starts
 *     with `{ [ " -` or a digit, or is exactly true/false/null): then as a JSON string literal;
 *   - anything else as the storage JSON of core/values.ts (`42`, `3.5`, `{"a":1}`, `[1,2]`,
 *     `{"$oid":"..."}`, `{"$numberDouble":"1.0"}`).
 *   Reading undoes exactly that, so every value round-trips. A foreign value that starts like JSON
 *   but does not parse (`12abc`) is read as a string.
 * Field names are stored as they are; a name that starts with U+0000 gets one more U+0000 in
 * front. A hash cannot be empty, so the empty document is the single field "\0" with value "".
 * rev = sha1 over the sorted sha1s of `<byte length of field>:<field><value>`, computed by the
 * server in Lua on every read and write, so it is exact to the byte and independent of the
 * order HGETALL returns fields in.
 */
import { StoreError } from '../../core/errors.js';
import { fromStorageJSON, toStorageJSON, type Doc, type Value } from '../../core/values.js';
import {
  decodeWriteResults,
  encodeCondition,
  LuaScript,
  othersLua,
  wrongTypeLua,
  READ_CHUNK,
  SCAN_KEYS,
  scanPageArgv,
  splitPageReply,
  type RedisLayout,
  type StoredValue,
} from './redis-layout.js';
import { otherTypeReason } from './redis-other-types.js';
import type { UnreadableDoc } from '../contract.js';

const LOOKS_ENCODED = /^(?:[-0-9{["]|(?:true|false|null)$)/;
const EMPTY_MARKER = '\u0000';

export function encodeFieldValue(v: Value): string {
  if (typeof v === 'string' && !LOOKS_ENCODED.test(v)) return v;
  return toStorageJSON(v);
}

export function decodeFieldValue(s: string): Value {
  if (!LOOKS_ENCODED.test(s)) return s;
  try {
    return fromStorageJSON(s);
  } catch {
    return s;
  }
}

export function encodeFieldName(name: string): string {
  return name.startsWith(EMPTY_MARKER) ? EMPTY_MARKER + name : name;
}

/** The hash fields of a document, as a flat [field, value, field, value, ...] list. */
export function encodeHash(doc: Doc): string[] {
  const flat: string[] = [];
  for (const [name, v] of Object.entries(doc)) {
    if (v === undefined) continue;
    flat.push(encodeFieldName(name), encodeFieldValue(v));
  }
  if (flat.length === 0) flat.push(EMPTY_MARKER, '');
  return flat;
}

export function decodeHash(flat: readonly string[]): Doc {
  const doc: Doc = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]!;
    if (field === EMPTY_MARKER) continue;
    const name = field.startsWith(EMPTY_MARKER) ? field.slice(1) : field;
    doc[name] = decodeFieldValue(flat[i + 1]!);
  }
  return doc;
}

const HREV = `
local function hrev(flat)
  if #flat == 0 then return false end
  local d = {}
  for j = 1, #flat, 2 do
    d[#d + 1] = redis.sha1hex(#flat[j] .. ':' .. flat[j] .. flat[j + 1])
  end
  table.sort(d)
  return redis.sha1hex(table.concat(d))
end
`;

const HASH_READ = `${HREV}
local out = {}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t == 'hash' then
    local flat = redis.call('HGETALL', KEYS[i])
    out[2 * i - 1] = hrev(flat)
    out[2 * i] = flat
  else
    -- absent: ''; a key of another type: '!' and its type (redis-other-types.ts)
    out[2 * i - 1] = t == 'none' and '' or '!' .. t
    out[2 * i] = {}
  end
end
return out
`;

// ARGV per op: kind ('p' | 'd', or 'k': a guard, as in the string layout), condition, field count n, then n field/value pairs. As in the
// string layout's script (redis-layout.ts): a first pass reads what the conditions need
// (HGETALL through pcall) and type-checks every key before anything is written; the second pass
// decides and writes in order, reading a key again when this batch already wrote it.
const HASH_WRITE = `${HREV}${wrongTypeLua('hash')}
local stored, j = {}, 1
for i = 1, #KEYS do
  if ARGV[j + 1] == 'u' then
    if othertype(KEYS[i]) then return wrongtype(KEYS[i]) end
  else
    local flat = redis.pcall('HGETALL', KEYS[i])
    if flat.err then return wrongtype(KEYS[i]) end
    stored[i] = flat
  end
  j = j + 3 + 2 * tonumber(ARGV[j + 2])
end
local out, written = {}, {}
j = 1
for i = 1, #KEYS do
  local key, kind, cond, n = KEYS[i], ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2])
  local first = j + 3
  j = first + 2 * n
  local cur = false
  if cond ~= 'u' then
    cur = hrev(written[key] and redis.call('HGETALL', key) or stored[i])
  end
  if (cond == 'a' and cur) or (cond ~= 'u' and cond ~= 'a' and cur ~= cond) then
    -- a guard (WriteGuard; always the first op) that fails: nothing is written
    if kind == 'k' then return 'g' .. (cur or '') end
    out[i] = 'c' .. (cur or '')
  elseif kind == 'k' then
    out[i] = 'o'
  elseif kind == 'p' then
    local ttl = redis.call('PTTL', key)
    redis.call('DEL', key)
    local flat, chunk = {}, {}
    for k = first, j - 1 do
      flat[#flat + 1] = ARGV[k]
      chunk[#chunk + 1] = ARGV[k]
      if #chunk == 2000 or k == j - 1 then
        redis.call('HSET', key, unpack(chunk))
        chunk = {}
      end
    end
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
    out[i] = 'o' .. hrev(flat)
    written[key] = true
  else
    redis.call('DEL', key)
    out[i] = 'o'
    written[key] = true
  end
end
return out
`;

const READ_SCRIPT = new LuaScript(HASH_READ);

// SCAN_KEYS (redis-layout.ts), then each key's rev and fields, as HASH_READ returns them, then
// OTHERS (the keys of another type: HGETALL answered WRONGTYPE)
const PAGE_SCRIPT = new LuaScript(`${HREV}${SCAN_KEYS}
local values = {}
for i = 1, #keys do
  local flat = redis.pcall('HGETALL', keys[i])
  if flat.err or #flat == 0 then
    values[2 * i - 1] = ''
    values[2 * i] = {}
  else
    values[2 * i - 1] = hrev(flat)
    values[2 * i] = flat
  end
end
${othersLua("values[2 * i - 1] ~= ''", 'hash')}
return {cursor, keys, values, overflow, run, others}
`);

/** The documents of a reply of rev/fields pairs (HASH_READ, PAGE_SCRIPT). */
function decodePairs(
  reply: unknown[],
  out: (StoredValue | UnreadableDoc | null)[],
  fullKeys?: readonly string[],
): void {
  for (let i = 0; i < reply.length; i += 2) {
    const rev = reply[i] as string | null;
    if (rev?.startsWith('!') === true && fullKeys !== undefined)
      out.push({ key: fullKeys[out.length]!, reason: otherTypeReason(rev.slice(1), 'hash') });
    else out.push(rev ? { doc: decodeHash(reply[i + 1] as string[]), rev } : null);
  }
}

export const HASH_LAYOUT: RedisLayout = {
  kind: 'redis+hash',
  redisType: 'hash',
  writeScript: new LuaScript(HASH_WRITE),

  encodeOps(ops) {
    const argv: string[] = [];
    for (const op of ops) {
      argv.push(op.type === 'put' ? 'p' : 'd', encodeCondition(op));
      if (op.type === 'delete') {
        argv.push('0');
      } else {
        const flat = encodeHash(op.doc);
        argv.push(String(flat.length / 2));
        for (const x of flat) argv.push(x);
      }
    }
    return argv;
  },

  decodeResults(ops, reply, _argv, where) {
    return decodeWriteResults(ops, reply, where);
  },

  async read(conn, fullKeys) {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < fullKeys.length; i += READ_CHUNK) {
      chunks.push(READ_SCRIPT.run(conn, fullKeys.slice(i, i + READ_CHUNK), []));
    }
    const replies = await Promise.all(chunks);
    const out: (StoredValue | UnreadableDoc | null)[] = [];
    for (const reply of replies) {
      if (!Array.isArray(reply)) throw new StoreError('unexpected reply from the hash read script');
      decodePairs(reply, out, fullKeys);
    }
    return out;
  },

  async scanPage(conn, args) {
    const reply = await PAGE_SCRIPT.run(conn, args.pending, scanPageArgv(args));
    const page = splitPageReply(reply, 'redis+hash scan');
    const out: (StoredValue | null)[] = [];
    decodePairs(page.values, out);
    return { ...page, values: out };
  },
};
