/**
 * The store conformance suite: the same checks against every adapter selected by
 * SWITCHYARD_STORES (default "memory,sqlite"; CI adds redis and dynamodb when available).
 */
import { afterAll, describe, it } from 'vitest';
import { CHECKS } from './store-checks.js';
import {
  memoryHarness,
  selectedStores,
  sqliteHarness,
  type StoreHarness,
} from './store-harness.js';

const FACTORIES: Record<string, () => StoreHarness> = {
  memory: () => memoryHarness,
  sqlite: sqliteHarness,
};

for (const name of selectedStores()) {
  const factory = FACTORIES[name];
  describe.skipIf(factory === undefined)(
    `store conformance: ${name}${factory ? '' : ' (no harness for this name)'}`,
    () => {
      const harness = factory?.();
      afterAll(async () => harness?.cleanup?.());
      for (const check of CHECKS) it(check.name, () => check.run(harness!), 60_000);
    },
  );
}
