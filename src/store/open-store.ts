/**
 * `openStore(url)`: the one way to reach a store. Adapters for network stores are loaded lazily
 * so that their SDKs are only required when used.
 */
import path from 'node:path';
import { StoreUrlError } from '../core/errors.js';
import type { Store } from './contract.js';
import { MemoryStore } from './memory/memory-adapter.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-adapter.js';
import { parseStoreUrl } from './store-url.js';

export interface OpenStoreOptions extends SqliteStoreOptions {
  /** the directory relative file paths (sqlite:./app.db) are resolved against (default: cwd) */
  baseDir?: string;
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  switch (parsed.scheme) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return new SqliteStore(
        parsed.path === ':memory:'
          ? parsed.path
          : path.resolve(options.baseDir ?? process.cwd(), parsed.path!),
        parsed.redacted,
        options,
      );
    case 'redis':
    case 'redis+hash': {
      const { openRedisStore } = await import('./redis/redis-adapter.js');
      return openRedisStore(parsed);
    }
    case 'dynamodb': {
      const { openDynamoStore } = await import('./dynamodb/dynamodb-adapter.js');
      return openDynamoStore(parsed);
    }
    case 'mongodb':
    case 'mongodb+srv': {
      const { openMongoStore } = await import('./mongodb/mongodb-adapter.js');
      return openMongoStore(parsed);
    }
    default:
      throw new StoreUrlError(
        `the '${parsed.scheme}:' adapter is not available yet (store URL '${parsed.redacted}')`,
        {
          field: 'store',
        },
      );
  }
}
