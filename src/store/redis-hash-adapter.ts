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
import { StoreError } from '../core/errors.js';
import { fromStorageJSON, toStorageJSON, type Doc, type Value } from '../core/values.js';
import {
  encodeCondition,
  LuaScript,
  READ_CHUNK,
  type RedisLayout,
  type StoredValue,
} from './redis-layout.js';

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
  if redis.call('TYPE', KEYS[i])['ok'] == 'hash' then
    local flat = redis.call('HGETALL', KEYS[i])
    out[2 * i - 1] = hrev(flat)
    out[2 * i] = flat
  else
    out[2 * i - 1] = ''
    out[2 * i] = {}
  end
end
return out
`;

// ARGV per op: kind ('p' | 'd'), condition, field count n, then n field/value pairs
const HASH_WRITE = `${HREV}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= 'hash' then
    return redis.error_reply('WRONGTYPE switchyard: ' .. KEYS[i] .. ' holds a ' .. t .. ', not a hash')
  end
end
local out, j = {}, 1
for i = 1, #KEYS do
  local key, kind, cond, n = KEYS[i], ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2])
  local first = j + 3
  j = first + 2 * n
  local cur = false
  if cond ~= 'u' then cur = hrev(redis.call('HGETALL', key)) end
  if (cond == 'a' and cur) or (cond ~= 'u' and cond ~= 'a' and cur ~= string.sub(cond, 2)) then
    out[i] = 'c' .. (cur or '')
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
  else
    redis.call('DEL', key)
    out[i] = 'o'
  end
end
return out
`;

const READ_SCRIPT = new LuaScript(HASH_READ);

export const HASH_LAYOUT: RedisLayout = {
  kind: 'redis+hash',
  redisType: 'hash',
  writeScript: new LuaScript(HASH_WRITE),

  encodeOp(op) {
    const head = [op.type === 'put' ? 'p' : 'd', encodeCondition(op)];
    if (op.type === 'delete') return [...head, '0'];
    const flat = encodeHash(op.doc);
    return [...head, String(flat.length / 2), ...flat];
  },

  async read(conn, fullKeys) {
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < fullKeys.length; i += READ_CHUNK) {
      chunks.push(READ_SCRIPT.run(conn, fullKeys.slice(i, i + READ_CHUNK), []));
    }
    const replies = await Promise.all(chunks);
    const out: (StoredValue | null)[] = [];
    for (const reply of replies) {
      if (!Array.isArray(reply)) throw new StoreError('unexpected reply from the hash read script');
      for (let i = 0; i < reply.length; i += 2) {
        const rev = reply[i] as string | null;
        out.push(rev ? { doc: decodeHash(reply[i + 1] as string[]), rev } : null);
      }
    }
    return out;
  },
};
