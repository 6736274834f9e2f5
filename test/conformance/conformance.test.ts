/**
 * The store conformance suite: the same checks against every adapter selected by
 * SWITCHYARD_STORES (default: all). An adapter whose server is not available here (redis
 * without redis-server, dynamodb without Java and DynamoDB Local) is skipped with the reason in its title, unless CI is set: then it
 * fails. Adapters that need a server the suite cannot start (mongodb: MONGODB_URL) are skipped
 * with the reason also under CI. What runs and what is skipped is printed.
 */
import { afterAll, describe, it } from 'vitest';
import { CHECKS } from './store-checks.js';
import { CHANGE_FEED_CHECKS } from './change-feed-checks.js';
import {
  dynamodbHarness,
  memoryHarness,
  mongodbHarness,
  redisHarness,
  selectedStores,
  sqliteHarness,
  type StoreHarness,
} from './store-harness.js';
import { NO_REDIS_REASON, redisServerPath } from '../support/redis-server.js';
import { dynamoDbLocalUnavailable } from '../support/dynamodb-local.js';
import { mongodbUnavailable, mongodbUrl } from '../support/mongodb-server.js';

interface Entry {
  factory: () => StoreHarness;
  /** why this adapter cannot run here, or null when it can */
  unavailable?: () => string | null;
  /** the server must be given from outside: skip when unavailable, also under CI */
  external?: boolean;
}

const needsRedis = () => (redisServerPath() === null ? NO_REDIS_REASON : null);

const FACTORIES: Record<string, Entry> = {
  memory: { factory: () => memoryHarness },
  sqlite: { factory: sqliteHarness },
  redis: { factory: () => redisHarness('string'), unavailable: needsRedis },
  'redis+hash': { factory: () => redisHarness('hash'), unavailable: needsRedis },
  dynamodb: { factory: dynamodbHarness, unavailable: dynamoDbLocalUnavailable },
  mongodb: {
    factory: () => mongodbHarness(mongodbUrl()!),
    unavailable: mongodbUnavailable,
    external: true,
  },
};

const selected = selectedStores().map((name) => {
  const entry = FACTORIES[name];
  const why = entry === undefined ? 'no harness for this name' : (entry.unavailable?.() ?? null);
  return { name, entry, why };
});
const skipped = selected.filter((s) => s.why !== null);
console.log(
  `store conformance: running ${
    selected
      .filter((s) => s.why === null)
      .map((s) => s.name)
      .join(', ') || 'nothing'
  }${skipped.length > 0 ? `; skipped: ${skipped.map((s) => `${s.name} (${s.why})`).join(', ')}` : ''}`,
);

for (const { name, entry, why } of selected) {
  if (why !== null && process.env.CI && entry !== undefined && entry.external !== true) {
    describe(`store conformance: ${name}`, () => {
      it('has its server available', () => {
        throw new Error(`${name} cannot run in CI: ${why}`);
      });
    });
    continue;
  }
  describe.skipIf(why !== null)(
    `store conformance: ${name}${why !== null ? ` (skipped: ${why})` : ''}`,
    () => {
      const harness = why === null ? entry!.factory() : undefined;
      afterAll(async () => harness?.cleanup?.());
      for (const check of [...CHECKS, ...CHANGE_FEED_CHECKS]) {
        it(check.name, () => check.run(harness!), 60_000);
      }
    },
  );
}
