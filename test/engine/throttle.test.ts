import { describe, expect, it } from 'vitest';
import { Throttle } from '../../src/engine/throttle.js';

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    get t() {
      return t;
    },
  };
}

describe('throttle', () => {
  it('a token bucket holds the rate', async () => {
    const clock = fakeClock();
    const th = new Throttle({ rate: 1000, now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 50; i++) await th.take(100);
    // 5,000 documents at 1,000/s take about 5 s
    expect(clock.t).toBeGreaterThanOrEqual(4800);
    expect(clock.t).toBeLessThanOrEqual(5200);
  });

  it('slows down sharply on trouble and speeds up slowly', () => {
    const th = new Throttle({ rate: 1000 });
    for (let i = 0; i < 5; i++) th.observe(10);
    expect(th.factor).toBe(1);
    th.observe(0, 'throttled');
    expect(th.factor).toBe(0.5);
    th.observe(35); // 3.5x the baseline: ordinary variation, not a spike
    expect(th.factor).toBeCloseTo(0.55);
    th.observe(0, 'throttled');
    expect(th.factor).toBeCloseTo(0.275);
    th.observe(60); // 5x the baseline but under the 100 ms floor: not a spike either
    expect(th.factor).toBeCloseTo(0.3025);
    th.observe(0, 'error');
    th.observe(500); // a real spike
    expect(th.factor).toBeCloseTo(0.075625);
    for (let i = 0; i < 40; i++) th.observe(10);
    expect(th.factor).toBe(1);
  });

  it('a single spike halves the speed', () => {
    const th = new Throttle({ rate: 1000 });
    for (let i = 0; i < 5; i++) th.observe(50);
    th.observe(0, 'throttled');
    th.observe(250); // a latency spike (5x the baseline, over 100 ms)
    expect(th.factor).toBe(0.25);
    th.observe(10);
    expect(th.factor).toBeCloseTo(0.275);
    for (let i = 0; i < 30; i++) th.observe(10);
    expect(th.factor).toBe(1);
    expect(th.effectiveRate).toBe(1000);
  });

  it('never falls below the floor, and a new rate applies at once', () => {
    const th = new Throttle({ rate: 100, minFactor: 0.1 });
    for (let i = 0; i < 20; i++) th.observe(0, 'error');
    expect(th.factor).toBe(0.1);
    th.setRate(5000);
    expect(th.effectiveRate).toBe(500);
  });

  it('a capacity budget is paid back over time: what a batch consumed delays the next one', async () => {
    const clock = fakeClock();
    const th = new Throttle({ now: clock.now, sleep: clock.sleep });
    th.setCapacity({ write: 100 });
    await th.take(50); // nothing owed yet
    expect(clock.t).toBe(0);
    th.charge({ read: 400, write: 250 }); // running totals: 250 write units so far
    await th.take(50);
    expect(clock.t).toBeGreaterThanOrEqual(2500); // 250 units at 100/s
    expect(clock.t).toBeLessThan(2600);
    th.charge({ read: 900, write: 350 }); // 100 more (reads are not budgeted)
    await th.take(50);
    expect(clock.t).toBeGreaterThanOrEqual(3500);
    // throttling halves the budget too (AIMD): 100 units now take 2 s
    th.observe(0, 'throttled');
    expect(th.effectiveCapacity).toEqual({ read: 0, write: 50 });
    const before = clock.t;
    th.charge({ read: 900, write: 450 });
    await th.take(50);
    expect(clock.t - before).toBeGreaterThanOrEqual(2000);
  });
});
