import { defineConfig } from 'vitest/config';
import RunAloneSequencer from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // in CI a failed test runs once more, and the log says "(retry x1)" next to it: three of the
    // last four CI runs were red from three different one-off races (each since fixed), and a
    // stop that does not land loses everything in it. A retried test is a bug to chase all the
    // same (the runner's unretried read in stop 31 was found through one); a test that fails
    // twice fails the run.
    retry: process.env.CI ? 1 : 0,
    pool: 'forks',
    // two files at a time, but the files that start processes one at a time among themselves
    // (test/support/run-alone.ts, test/sequencer.ts)
    maxWorkers: 2,
    setupFiles: ['test/run-alone-setup.ts'],
    sequence: { sequencer: RunAloneSequencer },
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
  },
});
