/**
 * DynamoDB (@aws-sdk/client-dynamodb, own marshalling in dynamodb-values.ts):
 *
 *   dynamodb://host:port[?region=R][&prefix=P][&https=true][&writes=M]   an endpoint (DynamoDB
 *                                                                         Local, ...)
 *   dynamodb://aws?region=R[&prefix=P][&writes=M]                          AWS, default
 *                                                                         credential chain
 *
 * `writes` is how conditional writes are batched: `partiql` (BatchExecuteStatement, the default)
 * or `transactions` (TransactWriteItems); see dynamodb-writes.ts.
 *
 * The store: clients, request sending (errors mapped to the store errors, consumed capacity
 * metered), retries with back-off, tables' life cycle. A collection is a table
 * (dynamodb-collection.ts); its change feed is the table's stream (dynamodb-streams.ts).
 * See docs/stores/dynamodb.md.
 */
import {
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { StoreError, StoreUrlError } from '../../core/errors.js';
import type { Store } from '../contract.js';
import { CollectionsByName, listedCollections } from '../collections-by-name.js';
import {
  DocumentTooLargeError,
  StoreThrottledError,
  StoreEndpointError,
  StoreUnreachableError,
} from '../store-errors.js';
import { redactSecrets, type ParsedStoreUrl } from '../store-url.js';
import { CapacityMeter } from './dynamodb-capacity.js';
import { DynamoCollection, MAX_ITEM_BYTES } from './dynamodb-collection.js';
import type { StreamsApi } from './dynamodb-streams.js';
import { collectionNameOf } from './dynamodb-table.js';
import { WriteMode } from './dynamodb-writes.js';

export { DynamoCollection, MAX_ITEM_BYTES, TableNotFoundError } from './dynamodb-collection.js';
export { collectionNameOf, SYNTHETIC_KEY, tableNameOf } from './dynamodb-table.js';
export { WriteMode } from './dynamodb-writes.js';

export const DEFAULT_DYNAMODB_PORT = 8000;
/** retries of unprocessed batch items, statements and throttled requests */
export const DEFAULT_MAX_RETRIES = 12;
const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);
/** commands whose bare CapacityUnits are read units */
const READS = new Set(['GetItemCommand', 'BatchGetItemCommand', 'ScanCommand', 'QueryCommand']);
/** Streams errors the feed handles itself */
const FEED_ERRORS = new Set(['ExpiredIteratorException', 'TrimmedDataAccessException']);

/** What this adapter uses of an SDK client. */
export interface DynamoClient {
  send(command: object): Promise<unknown>;
  destroy(): void;
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

/** socket-level codes that mean nothing answered (or the connection was cut), not a refusal */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Why a failed request never reached a DynamoDB that could answer it (the server down or
 * restarting, the connection cut), or null for any answer the server gave. The SDK has already
 * retried such a request (its own maxAttempts) before it gets here.
 */
export function networkFailure(err: unknown): string | null {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return null;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name === 'TimeoutError') return 'timed out';
  if (typeof e.message === 'string' && /socket hang up|ECONNREFUSED|ECONNRESET/.test(e.message))
    return 'connection lost';
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** exponential back-off with jitter: base * 2^attempt, at most 5 s, times 0.5..1 */
function backoff(attempt: number, baseMs: number): number {
  return Math.min(5000, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}

export interface DynamoStoreOptions {
  /** the start of every table name this store uses (default '') */
  prefix?: string;
  /** retries of unprocessed items, throttled statements and requests (default 12) */
  maxRetries?: number;
  /** the first back-off delay, doubled on every retry up to 5 s (default 25 ms) */
  retryBaseMs?: number;
  /** how conditional writes are batched (default partiql) */
  writes?: WriteMode;
  /** the client of the DynamoDB Streams API, made on first use (catch-up) */
  streams?: () => Promise<DynamoClient>;
  /** the region, for messages (default 'local') */
  region?: string;
  /** an endpoint given in the URL (not AWS itself), for messages */
  local?: boolean;
}

export class DynamoStore implements Store {
  readonly kind = 'dynamodb';
  readonly prefix: string;
  /** DynamoDB's item size limit; larger documents raise DocumentTooLargeError */
  readonly maxDocumentBytes = MAX_ITEM_BYTES;
  /** DynamoDB returns attributes in its own order */
  readonly keepsFieldOrder = false;
  readonly maxRetries: number;
  readonly retryBaseMs: number;
  readonly writeMode: WriteMode;
  readonly region: string;
  readonly local: boolean;
  /** capacity units consumed, per table, by this process */
  readonly meter = new CapacityMeter();
  readonly #client: DynamoClient;
  readonly #streamsFactory: (() => Promise<DynamoClient>) | undefined;
  #streams: Promise<StreamsApi> | undefined;
  #streamsClient: DynamoClient | undefined;
  readonly #collections = new CollectionsByName<DynamoCollection>(
    (name) => new DynamoCollection(this, name),
  );

  constructor(
    client: DynamoClient,
    readonly url: string,
    options: DynamoStoreOptions = {},
  ) {
    this.#client = client;
    this.prefix = options.prefix ?? '';
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.retryBaseMs = options.retryBaseMs ?? 25;
    this.writeMode = options.writes ?? WriteMode.partiql;
    this.region = options.region ?? 'local';
    this.local = options.local ?? true;
    this.#streamsFactory = options.streams;
  }

  /** The SDK client, for tests and tools that must reach behind the contract. */
  get client(): DynamoClient {
    return this.#client;
  }

  collection(name: string): DynamoCollection {
    return this.#collections.get(name);
  }

  /** Every table of the database (whatever the prefix). */
  async listTables(): Promise<string[]> {
    const tables: string[] = [];
    let start: string | undefined;
    do {
      const res = (await this.send(
        'listCollections',
        new ListTablesCommand(start ? { ExclusiveStartTableName: start } : {}),
      )) as { TableNames?: string[]; LastEvaluatedTableName?: string };
      tables.push(...(res.TableNames ?? []));
      start = res.LastEvaluatedTableName;
    } while (start !== undefined);
    return tables;
  }

  async listCollections(options: { includeReserved?: boolean } = {}): Promise<string[]> {
    const names: string[] = [];
    for (const t of await this.listTables()) {
      const name = collectionNameOf(this.prefix, t);
      if (name !== null) names.push(name);
    }
    return listedCollections(names, options);
  }

  /** Delete the collection's table and wait until it is gone. */
  async dropCollection(name: string): Promise<void> {
    const c = this.collection(name);
    try {
      await this.send(
        `drop '${c.tableName}'`,
        new DeleteTableCommand({ TableName: c.tableName }),
        true,
      );
    } catch (err) {
      if (errorName(err) !== 'ResourceNotFoundException')
        throw this.wrap(`drop '${c.tableName}'`, err);
    }
    c.reset();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.send(
          `drop '${c.tableName}'`,
          new DescribeTableCommand({ TableName: c.tableName }),
          true,
        );
      } catch (err) {
        if (errorName(err) === 'ResourceNotFoundException') return;
        throw this.wrap(`drop '${c.tableName}'`, err);
      }
      if (attempt > 600)
        throw new StoreError(`table '${c.tableName}' was not deleted within 5 minutes`);
      await sleep(Math.min(500, 20 * 2 ** attempt));
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
    this.#streamsClient?.destroy();
  }

  /** Wait until a table is ACTIVE (CreateTable is asynchronous). */
  async waitActive(table: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = (await this.send(
          `wait for '${table}'`,
          new DescribeTableCommand({ TableName: table }),
          true,
        )) as { Table?: { TableStatus?: string } };
        if (res.Table?.TableStatus === 'ACTIVE') return;
      } catch (err) {
        if (errorName(err) !== 'ResourceNotFoundException')
          throw this.wrap(`wait for '${table}'`, err);
      }
      if (attempt > 600)
        throw new StoreError(`table '${table}' did not become ACTIVE within 5 minutes`);
      await sleep(Math.min(500, 10 * 2 ** attempt));
    }
  }

  /** Wait before retry `attempt`; StoreThrottledError once the retries are used up. */
  async retryWait(attempt: number, what: string): Promise<void> {
    if (attempt > this.maxRetries) {
      throw new StoreThrottledError(
        `DynamoDB left ${what} unprocessed ${this.maxRetries} times (throughput exceeded); nothing was dropped, and what was written was acknowledged: the batch must be retried`,
      );
    }
    await sleep(backoff(attempt, this.retryBaseMs));
  }

  /**
   * Send a command, recording the ConsumedCapacity it reports. Failures become StoreErrors
   * (throttling: StoreThrottledError, an item over 400 KB: DocumentTooLargeError); with `raw`,
   * SDK errors are passed on for the caller to inspect (conditional checks, missing tables),
   * still wrapped when they are throttling.
   */
  async send(what: string, command: object, raw = false): Promise<unknown> {
    let res: unknown;
    try {
      res = await this.#client.send(command);
    } catch (err) {
      if (raw && !THROTTLE_NAMES.has(errorName(err)) && networkFailure(err) === null) throw err;
      throw this.wrap(what, err);
    }
    const consumed = (res as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
    if (consumed !== undefined)
      this.meter.record(consumed, READS.has(command.constructor.name) ? 'read' : 'write');
    return res;
  }

  wrap(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const name = errorName(err);
    const msg = `dynamodb ${what} in ${this.url} failed: ${name ? `${name}: ` : ''}${redactSecrets((err as Error)?.message ?? String(err))}`;
    if (THROTTLE_NAMES.has(name)) return new StoreThrottledError(msg, { cause: err });
    const network = networkFailure(err);
    if (network !== null)
      return new StoreUnreachableError(
        `dynamodb ${what} in ${this.url} failed: the server is unreachable (${network}: ${redactSecrets((err as Error)?.message ?? String(err))}); it may be restarting`,
        { cause: err },
      );
    if (/item size.*(exceeded|maximum)/i.test((err as Error)?.message ?? '')) {
      return new DocumentTooLargeError(msg, '', MAX_ITEM_BYTES + 1, MAX_ITEM_BYTES, { cause: err });
    }
    return new StoreError(msg, { cause: err });
  }

  /** The DynamoDB Streams API (its client is made on first use). */
  streams(): Promise<StreamsApi> {
    this.#streams ??= (async () => {
      if (this.#streamsFactory === undefined)
        throw new StoreError(`${this.url} was opened without a DynamoDB Streams client`);
      this.#streamsClient = await this.#streamsFactory();
      const { DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand } =
        await import('@aws-sdk/client-dynamodb-streams');
      const client = this.#streamsClient;
      const call = async (what: string, command: object) => {
        try {
          return await client.send(command);
        } catch (err) {
          if (FEED_ERRORS.has(errorName(err))) throw err;
          throw this.wrap(what, err);
        }
      };
      return {
        describeStream: async (input) =>
          (await call('describe stream', new DescribeStreamCommand(input))) as Awaited<
            ReturnType<StreamsApi['describeStream']>
          >,
        getShardIterator: async (input) =>
          (await call('get shard iterator', new GetShardIteratorCommand(input))) as Awaited<
            ReturnType<StreamsApi['getShardIterator']>
          >,
        getRecords: async (input) =>
          (await call('get stream records', new GetRecordsCommand(input))) as Awaited<
            ReturnType<StreamsApi['getRecords']>
          >,
      } satisfies StreamsApi;
    })();
    return this.#streams;
  }
}

const URL_PARAMS = ['region', 'prefix', 'https', 'writes'];
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** Open `dynamodb://host:port` or `dynamodb://aws` (parsed by store-url.ts). */
export async function openDynamoStore(parsed: ParsedStoreUrl): Promise<DynamoStore> {
  const url = parsed.url!;
  const fail = (why: string): never => {
    throw new StoreUrlError(`invalid store URL '${parsed.redacted}': ${why}`, { field: 'store' });
  };
  for (const name of url.searchParams.keys()) {
    if (!URL_PARAMS.includes(name))
      fail(`unknown parameter '${name}' (known: ${URL_PARAMS.join(', ')})`);
  }
  if (url.pathname !== '' && url.pathname !== '/') fail('a DynamoDB URL has no path');
  const region = url.searchParams.get('region') ?? undefined;
  const prefix = url.searchParams.get('prefix') ?? '';
  const writes = url.searchParams.get('writes') ?? WriteMode.partiql;
  if (!Object.values(WriteMode).includes(writes as WriteMode))
    fail(`writes must be ${Object.values(WriteMode).join(' or ')}, got '${writes}'`);
  const aws = url.hostname.toLowerCase() === 'aws' && url.port === '';
  if (aws && region !== undefined && !REGION.test(region))
    fail(`'${region}' is not an AWS region name (like eu-west-1)`);
  // (not `cacheMiddleware: true`, which would save about 5% of the client's CPU per request: a
  // DynamoDBDocumentClient built from `store.client`, as applications and tests do, refuses it)
  const config: DynamoDBClientConfig = {};
  if (region !== undefined) config.region = region;
  if (!aws) {
    const scheme = url.searchParams.get('https') === 'true' ? 'https' : 'http';
    config.endpoint = `${scheme}://${url.hostname}:${url.port === '' ? DEFAULT_DYNAMODB_PORT : url.port}`;
    config.region ??= 'local';
    // local servers accept any credentials; user:password@ in the URL, if given, are used
    config.credentials =
      url.username !== ''
        ? {
            accessKeyId: decodeURIComponent(url.username),
            secretAccessKey: decodeURIComponent(url.password),
          }
        : { accessKeyId: 'local', secretAccessKey: 'local' };
  } else if (url.username !== '') {
    fail('dynamodb://aws takes its credentials from the AWS default chain, not from the URL');
  }
  const client = new DynamoDBClient(config);
  // The SDK's logger middleware filters every request and response for its log line even when
  // there is no logger (the default logger's info() is a no-op, its arguments are still built):
  // about 8% of the client's CPU per request. Switchyard gives the client no logger.
  client.middlewareStack.remove('loggerMiddleware');
  const store = new DynamoStore(client as unknown as DynamoClient, parsed.redacted, {
    prefix,
    writes: writes as WriteMode,
    region: region ?? (aws ? await regionOf(client, parsed.redacted) : 'local'),
    local: !aws,
    streams: async () => {
      const { DynamoDBStreamsClient } = await import('@aws-sdk/client-dynamodb-streams');
      const streams = new DynamoDBStreamsClient(config);
      streams.middlewareStack.remove('loggerMiddleware');
      return streams as unknown as DynamoClient;
    },
  });
  await probe(client, store, parsed.redacted);
  return store;
}

/** The region the SDK's chain resolves (dynamodb://aws without ?region=). */
async function regionOf(client: DynamoDBClient, redacted: string): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    client.destroy();
    throw new StoreUrlError(
      `invalid store URL '${redacted}': no region: add ?region=<name> or set AWS_REGION`,
      { field: 'store' },
    );
  }
}

/**
 * Fail now, not at the first read, when nothing answers at the endpoint, the region has no
 * DynamoDB, or the credentials are refused (bad input: StoreEndpointError, exit 2). A caller
 * merely not allowed to list tables is fine.
 */
async function probe(client: DynamoDBClient, store: DynamoStore, redacted: string): Promise<void> {
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
  } catch (err) {
    const name = errorName(err);
    if (name === 'AccessDeniedException') return;
    client.destroy();
    const code = (err as { code?: string })?.code ?? '';
    const msg = redactSecrets((err as Error).message);
    const why =
      name === 'UnrecognizedClientException' || name === 'InvalidSignatureException'
        ? `the credentials were refused (${name}); check the AWS credential chain${store.local ? ' or the user:password in the URL' : ''}`
        : code === 'ENOTFOUND' || /getaddrinfo/.test(msg)
          ? `no such host${store.local ? '' : `: is '${store.region}' a region with DynamoDB?`} (${msg})`
          : `nothing answered: ${name ? `${name}: ` : ''}${msg}${store.local ? '; check the host and port (DynamoDB Local listens on 8000 unless started with -port)' : ''}`;
    throw new StoreEndpointError(`cannot connect to ${redacted}: ${why}`, { cause: err });
  }
}
