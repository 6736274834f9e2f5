import { defineConfig } from 'vitest/config';
import RunAloneSequencer from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
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
