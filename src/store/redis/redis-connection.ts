/**
 * The Redis adapters' connection (ioredis): how it is opened, how it lives through an outage,
 * and what its failures are called.
 *
 * Rules:
 * - Opening fails fast: one connection attempt and a PING (no server, wrong password: at once).
 * - Once open, the client reconnects for as long as the store is open (every 0.2 s, slowing to
 *   every 2 s), so a server that restarts or fails over is found again however long it was away.
 *   A call made while the server is away waits for about three reconnection attempts (~1 s),
 *   then fails with StoreUnreachableError; whoever made it decides whether to wait and try again
 *   (the engines' and the CLI's retries do, and say so).
 * - A call cut off by a lost connection is sent again on the next connection (ioredis). Writes
 *   are conditional (a resent write conflicts and is re-read) or idempotent puts; scans check
 *   the server's run id in the same call (redis-cursor.ts), so a call that lands on a restarted
 *   server never continues an old cursor.
 * - Failures are named for what happened, never for the client's mechanics: "the server is
 *   unreachable (connect ECONNREFUSED ...)", "authentication failed (WRONGPASS ...)" — not
 *   "Reached the max retries per request limit" or "Connection is closed". Every message shows
 *   the store URL redacted, and driver text goes through redactSecrets.
 */
import { Redis } from 'ioredis';
import { StoreError, errorMessage } from '../../core/errors.js';
import { StoreAuthError, StoreUnreachableError } from '../store-errors.js';
import { redactSecrets, type ParsedStoreUrl } from '../store-url.js';
import type { RedisConnection } from './redis-layout.js';

export const DEFAULT_REDIS_PORT = 6379;
/** how long one connection attempt may take (ms) */
const CONNECT_TIMEOUT_MS = 5000;
/** reconnection attempts a call waits for before it fails as unreachable */
const RETRIES_PER_CALL = 3;

/** What the store keeps of a connection's life, from the client's events. */
export class ConnectionWatch {
  #closes = 0;
  #lastError: Error | undefined;

  constructor(client: RedisConnection) {
    client.on('close', () => {
      this.#closes += 1;
    });
    client.on('error', (err: unknown) => {
      this.#lastError = err instanceof Error ? err : new Error(String(err));
    });
    client.on('ready', () => {
      this.#lastError = undefined;
    });
  }

  /** connections lost so far: a reply read while this is unchanged came on the same connection */
  get closes(): number {
    return this.#closes;
  }

  /** why the last connection attempt failed, while the client has not reconnected */
  get lastError(): Error | undefined {
    return this.#lastError;
  }
}

const UNREACHABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|Connection is closed|max retries per request|^LOADING\b/i;
const AUTH = /\b(WRONGPASS|NOAUTH)\b/;
/** ioredis's words for "no connection", which say how the client works rather than what happened */
const CLIENT_WORDS = /^(Connection is closed\.?|Reached the max retries per request limit.*)$/s;

/**
 * The StoreError for a failed call, as `<lead>: <what happened>` (lead: "redis scan of 'users'
 * in redis://..." or "cannot connect to redis://...", the URL redacted). `lastError` is the
 * connection's last error, which says more than the call's own.
 */
export function redisFailure(
  err: unknown,
  lead: string,
  lastError: Error | undefined,
  unreachableHint = 'it may be restarting or failing over',
): StoreError {
  const own = errorMessage(err);
  const cause = { cause: err };
  if (AUTH.test(own) || (lastError !== undefined && AUTH.test(lastError.message))) {
    const detail = AUTH.test(own) ? own : lastError!.message;
    return new StoreAuthError(
      `${lead}: authentication failed (${redactSecrets(detail)}); check the user and password of the store URL`,
      cause,
    );
  }
  const code = (err as { code?: unknown })?.code;
  if (UNREACHABLE.test(own) || (typeof code === 'string' && UNREACHABLE.test(code))) {
    const detail = /^LOADING\b/.test(own)
      ? 'it is loading its data after a restart'
      : (lastError?.message ?? own).replace(CLIENT_WORDS, 'the connection was lost');
    return new StoreUnreachableError(
      `${lead}: the server is unreachable (${redactSecrets(detail)}); ${unreachableHint}`,
      cause,
    );
  }
  return new StoreError(`${lead}: ${redactSecrets(own)}`, cause);
}

/** Where to connect and as whom: a parsed redis:// URL as ioredis takes it. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** Connect, and PING: resolves with a ready client or fails at once, in words. */
export async function connectRedis(
  parsed: ParsedStoreUrl,
  address: RedisAddress,
): Promise<RedisConnection> {
  const client = new Redis({
    host: address.host,
    port: address.port,
    db: address.db,
    ...(address.username !== undefined ? { username: address.username } : {}),
    ...(address.password !== undefined ? { password: address.password } : {}),
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: RETRIES_PER_CALL,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await client.connect();
    await client.call('PING');
  } catch (err) {
    client.disconnect();
    throw redisFailure(
      err,
      `cannot connect to ${parsed.redacted}`,
      lastError,
      'is a server running at that address?',
    );
  }
  return client as unknown as RedisConnection;
}
