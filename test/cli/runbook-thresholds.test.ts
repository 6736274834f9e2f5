/**
 * The runbook a rehearsal writes lists the thresholds in force: the backfill flags (guards) and
 * the config's contingency thresholds for this migration.
 */
import { describe, expect, it } from 'vitest';
import type { RehearsalReport } from '../../src/cli/rehearse/rehearsal.js';
import { renderRunbook, type RunbookContext } from '../../src/cli/rehearse/runbook.js';
import { splitNameMigration } from '../engine/backfill-fixtures.js';

const report: RehearsalReport = {
  migration: 'm-split',
  collection: 'users',
  total: 1000,
  copied: 100,
  scratch: 'sqlite:/tmp/x.db',
  seed: 1,
  steps: [{ step: 'backfill', status: 'ok', ms: 1200, extrapolatedMs: 12_000, detail: 'done' }],
  originalBack: true,
  ok: true,
};
const context: RunbookContext = {
  migration: splitNameMigration(),
  storeFlags: '',
  backfillFlags: ['--guard', 'error-rate<1%'],
  batchSize: 100,
  leaseTtlMs: 15_000,
  maxStoreRetries: 12,
  at: new Date('2026-12-06T00:00:00Z'),
  actor: 'ci',
};

describe('the runbook lists the thresholds in force', () => {
  it('the guards and the config thresholds', () => {
    const md = renderRunbook(report, {
      ...context,
      thresholds: [
        { metric: 'errorRate', above: 0.05, action: 'throttle' },
        { metric: 'lag', above: 5000, action: 'alert', job: 'catch-up' },
      ],
    });
    expect(md).toContain('- Backfill guards: --guard error-rate<1%.');
    expect(md).toContain(
      "- Contingency thresholds (the config's `thresholds`, docs/guides/thresholds.md): `errorRate > 0.05: throttle`; `lag > 5000: alert (catch-up only)`.",
    );
  });
  it('says none when the config has none', () => {
    expect(renderRunbook(report, context)).toMatch(/Contingency thresholds .*: none\./);
  });
});
