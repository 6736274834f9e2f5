/**
 * Contingency thresholds, evaluated (engine/runner/thresholds.ts): a metric never above its
 * level never fires; one above it fires once per excursion; what is not measured is not judged;
 * the guards map onto thresholds; a threshold applies to its migration and job only.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { throttledRate } from '../../src/engine/runner/threshold-actions.js';
import {
  guardThresholds,
  measure,
  THRESHOLD_ACTIONS,
  THRESHOLD_METRICS,
  THRESHOLD_MIN_CALLS,
  thresholdsFor,
  ThresholdWatch,
  type Threshold,
} from '../../src/engine/runner/thresholds.js';

const arbThreshold = fc.record({
  metric: fc.constantFrom(...THRESHOLD_METRICS),
  above: fc.double({ min: 0, max: 1e6, noNaN: true }),
  action: fc.constantFrom(...THRESHOLD_ACTIONS),
});

describe('ThresholdWatch', () => {
  it('never fires while the metric stays at or below the threshold', () => {
    fc.assert(
      fc.property(
        arbThreshold,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 200 }),
        (t, fractions) => {
          const watch = new ThresholdWatch([t]);
          for (const f of fractions) expect(watch.check({ [t.metric]: t.above * f })).toEqual([]);
        },
      ),
    );
  });

  it('fires at the first value above it, once per excursion above', () => {
    fc.assert(
      fc.property(
        arbThreshold,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 200 }),
        (t, overs) => {
          const watch = new ThresholdWatch([t]);
          let prev = false;
          for (const over of overs) {
            const v = over ? t.above + 1 : t.above;
            const fired = watch.check({ [t.metric]: v });
            // fires exactly when the metric goes from at-or-below to above
            expect(fired.length).toBe(over && !prev ? 1 : 0);
            if (fired.length === 1)
              expect(fired[0]).toMatchObject({
                metric: t.metric,
                above: t.above,
                action: t.action,
              });
            prev = over;
          }
        },
      ),
    );
  });

  it('does not judge a metric that is not measured', () => {
    const watch = new ThresholdWatch([{ metric: 'lag', above: 0, action: 'pause' }]);
    expect(watch.check({ errorRate: 1, deadLetters: 1e9 })).toEqual([]);
    expect(watch.check({ lag: 1 })).toHaveLength(1);
  });

  it('says the metric, its value, the threshold and the action', () => {
    const [f] = new ThresholdWatch([{ metric: 'errorRate', above: 0.1, action: 'throttle' }]).check(
      { errorRate: 0.2 },
    );
    expect(f!.message).toBe('errorRate 20%, above the threshold of 10%: throttle');
  });
});

describe('measure', () => {
  const base = {
    scanned: 0,
    errors: 0,
    conflicts: 0,
    deadLetters: 0,
    calls: 0,
    failedCalls: 0,
    writeLatencies: [],
    batchLatencies: [],
  };
  it('judges the error rate of store calls only once enough calls were made', () => {
    expect(measure({ ...base, calls: THRESHOLD_MIN_CALLS - 1, failedCalls: 50 }).errorRate).toBe(
      undefined,
    );
    expect(measure({ ...base, calls: 200, failedCalls: 50 }).errorRate).toBe(0.25);
  });
  it('gives lag and mismatches only when the job has them', () => {
    expect(measure(base)).toEqual({ deadLetters: 0 });
    expect(measure({ ...base, lagMs: 40, mismatched: 2 })).toMatchObject({
      lag: 40,
      verifyMismatches: 2,
    });
  });
});

describe('thresholds in the config', () => {
  const all: Threshold[] = [
    { metric: 'errorRate', above: 0.1, action: 'pause' },
    { metric: 'lag', above: 5000, action: 'alert', job: 'catch-up' },
    { metric: 'deadLetters', above: 5, action: 'pause', migration: 'm2' },
  ];
  it('apply to their migration and job only', () => {
    expect(thresholdsFor(all, 'm1', 'backfill')).toEqual([all[0]]);
    expect(thresholdsFor(all, 'm2', 'catch-up')).toEqual(all);
    expect(thresholdsFor(undefined, 'm1', 'verify')).toEqual([]);
  });
  it('the guards are thresholds that pause (or roll back)', () => {
    expect(
      guardThresholds({
        errorRatePercent: 1,
        conflictRatePercent: 5,
        deadLetters: 100,
        p99WriteMs: 500,
      }),
    ).toEqual([
      { metric: 'deadLetterRate', above: 0.01, action: 'pause' },
      { metric: 'conflictRate', above: 0.05, action: 'pause' },
      { metric: 'deadLetters', above: 100, action: 'pause' },
      { metric: 'p99LatencyMs', above: 500, action: 'pause' },
    ]);
    expect(guardThresholds({ deadLetters: 0 }, true)).toEqual([
      { metric: 'deadLetters', above: 0, action: 'rollback' },
    ]);
  });
  it('a throttle halves the rate, or the measured rate when there is none', () => {
    expect(throttledRate(1000, 0)).toBe(500);
    expect(throttledRate(0, 300)).toBe(150);
    expect(throttledRate(0, 0)).toBe(1);
  });
});
