/**
 * The short soak: `npm run soak` at 3 trials per store, 1 on DynamoDB Local (its trials are the
 * slowest; seed 1 kills the backfill mid-run), from scripts/soak/. Each trial kills a real
 * backfill process with SIGKILL while an application writes through the store's own client, then
 * resumes, verifies and rolls back through the CLI; every count of what went wrong must be 0.
 * A store whose server is not installed is skipped with the reason (CI=true: fails).
 */
import { describe, expect, it } from 'vitest';
import { soakStore, soakTable } from '../../scripts/soak/soak.js';
import { soakStores } from '../../scripts/soak/soak-stores.js';
import { failed } from '../../scripts/soak/soak-trial.js';

describe('soak, 3 trials per store (1 on DynamoDB)', () => {
  for (const store of soakStores()) {
    const why = store.unavailable();
    if (why !== null && process.env.CI) throw new Error(`${store.name} soak cannot run: ${why}`);
    it.skipIf(why !== null)(
      `${store.name}: kill -9 mid-backfill with a concurrent writer, resume, verify, rollback: nothing lost or doubled${why !== null ? ` (skipped: ${why})` : ''}`,
      async () => {
        const result = await soakStore(store, store.name === 'dynamodb' ? 1 : 3, 1);
        const table = soakTable(result);
        expect(result.trials.filter(failed), table).toEqual([]);
        // not vacuous: the application wrote, and a kill hit a backfill under way
        expect(result.trials.every((t) => t.appWrites > 0)).toBe(true);
        expect(
          result.trials.some((t) => t.killedMidRun),
          table,
        ).toBe(true);
      },
      180_000,
    );
  }
});
