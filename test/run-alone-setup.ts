/**
 * Runs in each test file's worker before the file (vitest.config.ts `setupFiles`): a file that
 * must run alone (test/support/run-alone.ts) waits for the lock before its own hooks start
 * servers, and gives it back after its last hook.
 */
import { afterAll, beforeAll } from 'vitest';
import { dropAloneLock, runsAlone, takeAloneLock } from './support/run-alone.js';

let holding = false;

// vitest wants the first argument (the hook context) destructured; the file is the second
// eslint-disable-next-line no-empty-pattern
beforeAll(async ({}, suite) => {
  const file = (suite as { filepath?: string }).filepath;
  if (file === undefined || !runsAlone(file)) return;
  await takeAloneLock();
  holding = true;
}, 60 * 60_000);

afterAll(() => {
  if (holding) dropAloneLock();
  holding = false;
});
