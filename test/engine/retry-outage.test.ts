/**
 * A server that is down is waited for, not taken as a sign of load: retries of an unreachable
 * server leave the adaptive back-off alone, so the job goes on at its rate once the server is
 * back. A timeout or any other store failure still slows it down (runner/retry.ts).
 */
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/errors.js';
import { outage, retryStoreCall } from '../../src/engine/runner/retry.js';
import { Throttle } from '../../src/engine/runner/throttle.js';
import { StoreUnreachableError } from '../../src/store/store-errors.js';

async function factorAfter(failures: number, fail: () => Error): Promise<number> {
  const throttle = new Throttle({ rate: 1000 });
  let calls = 0;
  const retries: number[] = [];
  const result = await retryStoreCall(
    'write',
    async () => {
      calls += 1;
      if (calls <= failures) throw fail();
      return 'written';
    },
    { throttle, onRetry: (r) => retries.push(r.attempt) },
  );
  expect(result).toBe('written');
  expect(retries).toEqual(Array.from({ length: failures }, (_, i) => i + 1));
  return throttle.factor;
}

const refused = () =>
  new StoreUnreachableError(
    "dynamodb write to 'users' failed: the server is unreachable (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8000); it may be restarting",
  );
const timedOut = () =>
  new StoreUnreachableError(
    "dynamodb write to 'users' failed: the server is unreachable (timed out: socket timed out); it may be restarting",
  );

describe('retries through an outage', () => {
  it('a refused connection is waited for at full speed; the rate is whole when the server is back', async () => {
    expect(outage(refused())).toBe(true);
    expect(await factorAfter(4, refused)).toBe(1);
  });

  it('a timeout and a plain store failure still halve the speed per failure', async () => {
    expect(outage(timedOut())).toBe(false);
    expect(await factorAfter(3, timedOut)).toBe(0.125);
    expect(outage(new StoreError('write failed: SQLITE_BUSY'))).toBe(false);
    expect(await factorAfter(2, () => new StoreError('write failed: SQLITE_BUSY'))).toBe(0.25);
  });
});
