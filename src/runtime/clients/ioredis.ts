/**
 * `wrapRedis(redis, yard, routes)`: an ioredis client whose GET/SET/HGETALL/HSET/DEL of migrated
 * key patterns go through `yard.migration()` (app-migration.ts), so the application's existing
 * Redis code keeps working, unchanged, through every stage of a side-by-side migration.
 *
 *   const redis = await wrapRedis(new Redis(url), yard, [
 *     { migration: 'users-v2', pattern: 'user:', target: { prefix: 'user2:' }, type: 'string' },
 *   ]);
 *   await redis.set('user:1', JSON.stringify({ name: 'Ada' }));  // dual-written, in order
 *   JSON.parse((await redis.get('user:1'))!);                     // at the old version, always
 *
 * Rules:
 * - a route owns the keys starting with `pattern` (a prefix); the document key is the rest of the
 *   name. Old side: the key itself on `redis`; new side: `target.prefix` + the document key on
 *   `target.client` (default `redis`, unwrapped). Every other key and command passes through
 *   to the client untouched;
 * - `type: 'string'` keeps a JSON object per key (GET/SET/DEL); `type: 'hash'` a flat hash
 *   (HGETALL/HSET/DEL): values are written as strings (objects as JSON) and the version field is
 *   read back as a number. The document key is not stored: `_id` (the yard's key field) is added
 *   on read by the runtime and removed before the application sees the value;
 * - reads are cast with `readAs` to `readAs` (default: the migration's `from` version), so what
 *   the application reads has the shape its code was written for, whichever side answered; the
 *   version field is left out when it says `from` (absent means `from`), on reads and on
 *   writes to the old side, so old keys keep exactly the application's shape;
 * - HSET on a migrated key is a read-modify-write of the document through the runtime (the
 *   runtime orders writes of one key within a process; across processes, see dual-write.ts);
 *   it answers the number of fields that were new, as Redis does;
 * - SET with options (EX, NX, ...) on a migrated key, or a command of the wrong type for the
 *   route, is an InputError naming the key: the wrapper never half-applies a command.
 */
import type { Redis } from 'ioredis';
import { InputError } from '../../core/errors.js';
import type { Doc } from '../../core/values.js';
import type { Key } from '../../store/contract.js';
import type { AppMigration } from '../app-migration.js';
import type { Yard } from '../yard.js';
import { atFrom, withoutKey, type Version } from './app-shape.js';

export interface RedisRoute {
  /** the id of a side-by-side migration (the project's, or given as `definition`) */
  migration: string;
  /** the old side's key prefix, e.g. 'user:' */
  pattern: string;
  type: 'string' | 'hash';
  /** where the new shape lives: `prefix` + document key on `client` (default: the same client) */
  target: { prefix: string; client?: Redis };
  /** the version reads are cast to (default: the migration's `from`) */
  readAs?: number;
  /** passed to yard.migration() when the project has no migration of that id */
  definition?: Parameters<Yard['migration']>[1]['migration'];
}

interface Bound {
  route: RedisRoute;
  handle: AppMigration;
  readAs: number;
  keyField: string;
  version: Version;
}

const WRAPPED = ['get', 'set', 'hgetall', 'hset', 'del'] as const;

/** The wrapped client (same type as `redis`); see the header for what is routed. */
export async function wrapRedis(
  redis: Redis,
  yard: Yard,
  routes: readonly RedisRoute[],
  options: { keyField?: string } = {},
): Promise<Redis> {
  const keyField = options.keyField ?? '_id';
  const bound: Bound[] = [];
  for (const route of routes) {
    const client = route.target.client ?? redis;
    const newName = (k: Key) => `${route.target.prefix}${k}`;
    const version: Version = { field: '_sv', from: 1 };
    const sides = sidesOf(
      { old: redis, neu: client, pattern: route.pattern, newName, keyField, version },
      route.type === 'string' ? STRING : HASH,
    );
    const handle = await yard.migration(route.migration, {
      ...sides,
      ...(route.definition !== undefined ? { migration: route.definition } : {}),
    });
    version.field = handle.migration.versionField;
    version.from = handle.migration.from;
    bound.push({ route, handle, readAs: route.readAs ?? version.from, keyField, version });
  }
  const find = (name: unknown): Bound | undefined =>
    typeof name === 'string' ? bound.find((b) => name.startsWith(b.route.pattern)) : undefined;
  const commands = { get, set, hgetall, hset, del };
  return new Proxy(redis, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && (WRAPPED as readonly string[]).includes(prop)) {
        const own = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        const routed = commands[prop as (typeof WRAPPED)[number]];
        return (...args: unknown[]) =>
          routed(find, (...a: unknown[]) => own.apply(target, a), args);
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

type Find = (name: unknown) => Bound | undefined;
type Own = (...args: unknown[]) => Promise<unknown>;

function docKey(b: Bound, name: string): Key {
  return name.slice(b.route.pattern.length);
}

function expectType(b: Bound, name: string, type: RedisRoute['type'], command: string): void {
  if (b.route.type !== type)
    throw new InputError(
      `${command} ${name}: the key is migrated by '${b.route.migration}' as a ${b.route.type}, not a ${type}`,
      { field: 'type' },
    );
}

async function readApp(b: Bound, name: string): Promise<Doc | null> {
  const doc = await b.handle.get(docKey(b, name), { readAs: b.readAs });
  return doc === null ? null : withoutKey(atFrom(doc, b.version), b.keyField);
}

async function get(find: Find, own: Own, args: unknown[]): Promise<unknown> {
  const b = find(args[0]);
  if (b === undefined) return own(...args);
  expectType(b, args[0] as string, 'string', 'GET');
  const doc = await readApp(b, args[0] as string);
  return doc === null ? null : JSON.stringify(doc);
}

async function set(find: Find, own: Own, args: unknown[]): Promise<unknown> {
  const b = find(args[0]);
  if (b === undefined) return own(...args);
  const name = args[0] as string;
  expectType(b, name, 'string', 'SET');
  if (args.length !== 2)
    throw new InputError(
      `SET ${name}: options (EX, NX, ...) are not supported on a key migrated by '${b.route.migration}'`,
      { field: 'SET' },
    );
  const doc = parseJson(name, String(args[1]));
  await b.handle.put({ ...doc, [b.keyField]: docKey(b, name) });
  return 'OK';
}

async function hgetall(find: Find, own: Own, args: unknown[]): Promise<unknown> {
  const b = find(args[0]);
  if (b === undefined) return own(...args);
  expectType(b, args[0] as string, 'hash', 'HGETALL');
  const doc = await readApp(b, args[0] as string);
  return doc === null ? {} : toHash(doc);
}

async function hset(find: Find, own: Own, args: unknown[]): Promise<unknown> {
  const b = find(args[0]);
  if (b === undefined) return own(...args);
  const name = args[0] as string;
  expectType(b, name, 'hash', 'HSET');
  const fields = hsetFields(name, args.slice(1));
  const current = (await readApp(b, name)) ?? {};
  const added = Object.keys(fields).filter((f) => !(f in current)).length;
  await b.handle.put({ ...current, ...fields, [b.keyField]: docKey(b, name) });
  return added;
}

async function del(find: Find, own: Own, args: unknown[]): Promise<unknown> {
  const names = args.flat() as unknown[];
  const plain = names.filter((n) => find(n) === undefined);
  let removed = plain.length > 0 ? Number(await own(...plain)) : 0;
  for (const name of names) {
    const b = find(name);
    if (b === undefined) continue;
    if ((await readApp(b, name as string)) !== null) removed++;
    await b.handle.delete(docKey(b, name as string));
  }
  return removed;
}

function hsetFields(name: string, rest: unknown[]): Record<string, string> {
  if (rest.length === 1 && typeof rest[0] === 'object' && rest[0] !== null)
    return Object.fromEntries(Object.entries(rest[0]).map(([k, v]) => [k, String(v)]));
  if (rest.length === 0 || rest.length % 2 !== 0)
    throw new InputError(`HSET ${name}: expected field value pairs`, { field: 'HSET' });
  const out: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) out[String(rest[i])] = String(rest[i + 1]);
  return out;
}

function parseJson(name: string, text: string): Doc {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InputError(`SET ${name}: a migrated key holds a JSON object; the value is not JSON`, {
      field: 'SET',
    });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InputError(`SET ${name}: a migrated key holds a JSON object`, { field: 'SET' });
  return v as Doc;
}

function toHash(doc: Doc): Record<string, string> {
  return Object.fromEntries(
    Object.entries(doc).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
  );
}

interface Layout {
  old: Redis;
  neu: Redis;
  pattern: string;
  newName: (k: Key) => string;
  keyField: string;
  version: Version;
}

/** One value per key: read a document, write it whole (without its key field). */
interface Codec {
  read(r: Redis, name: string, version: Version): Promise<Doc | null>;
  write(r: Redis, name: string, doc: Doc): Promise<unknown>;
}

/** The application's functions of a route: old keys as they are, new keys renamed. */
function sidesOf(l: Layout, codec: Codec) {
  const { old, neu, pattern, newName, keyField, version } = l;
  return {
    readOld: (k: Key) => codec.read(old, pattern + k, version),
    readNew: (k: Key) => codec.read(neu, newName(k), version),
    writeOld: (k: Key, d: Doc) =>
      codec.write(old, pattern + k, withoutKey(atFrom(d, version), keyField)),
    writeNew: (k: Key, d: Doc) => codec.write(neu, newName(k), withoutKey(d, keyField)),
    deleteOld: (k: Key) => old.del(pattern + k),
    deleteNew: (k: Key) => neu.del(newName(k)),
  };
}

/** JSON strings. */
const STRING: Codec = {
  async read(r, name) {
    const text = await r.get(name);
    return text === null ? null : (JSON.parse(text) as Doc);
  },
  write: (r, name, doc) => r.set(name, JSON.stringify(doc)),
};

/** Flat hashes, replaced whole (MULTI: DEL then HSET); the version field read back as a number. */
const HASH: Codec = {
  async read(r, name, version) {
    const h = await r.hgetall(name);
    if (Object.keys(h).length === 0) return null;
    const doc: Doc = { ...h };
    const v = h[version.field];
    if (v !== undefined && /^\d+$/.test(v)) doc[version.field] = Number(v);
    return doc;
  },
  async write(r, name, doc) {
    const h = toHash(doc);
    const tx = r.multi().del(name);
    if (Object.keys(h).length > 0) tx.hset(name, h);
    return tx.exec();
  },
};
