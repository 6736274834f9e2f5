/**
 * Keys of another Redis type inside a collection (issue 13 item C): a hash, list, set, zset or
 * stream whose name falls in a `redis://` collection of string documents, or a string among
 * `redis+hash://` documents. Such a key is never a document, and it is never skipped silently:
 *
 * - scans do not filter by type (SCAN without TYPE); the page scripts ask TYPE of each key whose
 *   read found no document (redis-layout.ts OTHERS), and a key of another type is listed in
 *   `ScanPage.unreadable` ("a Redis hash, not a string document"), so backfill dead-letters it
 *   by key, verify counts it (not ok) and export names it;
 * - `get`/`getMany` of it throw UnreadableDocumentError (a key that is absent stays null): the
 *   layouts' read scripts answer a key of another type with its type, in the same call;
 * - `count` counts documents only; `countNotDocuments` counts the other keys, by type;
 * - writes refuse it (WRONGTYPE in the layouts' write scripts, nothing written).
 * `drop` and `listCollections` still look at keys of the layout's type only.
 */
import type { RedisStore } from './redis-adapter.js';
import { LuaScript, SERVER_RUN, type RedisConnection } from './redis-layout.js';

/** Why a key of Redis type `type` is not a document of a layout that keeps `layoutType` keys. */
export function otherTypeReason(type: string, layoutType: string): string {
  return `a Redis ${type}, not a ${layoutType} document`;
}

/**
 * Count the keys of a pattern that are not of the layout's type, by type, on the server: at most
 * `steps` SCAN calls per script call, with SERVER_RUN's check. ARGV: run (''), cursor, MATCH
 * pattern, COUNT, layout type, steps. Returns {cursor, {type, n, type, n, ...}, run}; a stale run
 * returns {'0', {}, run} without scanning.
 */
export const COUNT_OTHERS_SCRIPT = new LuaScript(`${SERVER_RUN}
if stale then return {'0', {}, run} end
local cursor, steps, by = ARGV[2], tonumber(ARGV[6]), {}
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[3], 'COUNT', ARGV[4])
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local t = redis.call('TYPE', k)['ok']
    if t ~= 'none' and t ~= ARGV[5] then by[t] = (by[t] or 0) + 1 end
  end
  steps = steps - 1
until cursor == '0' or steps == 0
local flat = {}
for t, n in pairs(by) do flat[#flat + 1] = t; flat[#flat + 1] = n end
return {cursor, flat, run}
`);

/** COUNT_OTHERS_SCRIPT over the whole keyspace of `pattern`, restarted with the walk (RedisStore.walk). */
export async function countOtherTypes(
  store: RedisStore,
  conn: RedisConnection,
  o: { where: string; pattern: string; layoutType: string; count: number; steps: number },
): Promise<Record<string, number>> {
  let by: Record<string, number> = {};
  const restart = () => {
    by = {};
  };
  await store.walk(o.where, restart, async (run, cursor) => {
    const [next, flat, answeredBy] = (await store.run('count', () =>
      COUNT_OTHERS_SCRIPT.run(
        conn,
        [],
        [run ?? '', cursor, o.pattern, o.count, o.layoutType, o.steps],
      ),
    )) as [string, unknown[], string];
    if (run === null || answeredBy === run)
      for (let i = 0; i + 1 < flat.length; i += 2)
        by[String(flat[i])] = (by[String(flat[i])] ?? 0) + Number(flat[i + 1]);
    return { run: answeredBy, cursor: next };
  });
  return by;
}
