/**
 * Change windows (engine/runner/windows.ts): whether a window is open at an instant, against a
 * plain reference written with UTC date arithmetic, and the next change it reports (the first
 * minute at which open flips), for random windows and instants; a time zone with DST.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WEEKDAYS, WindowSchedule, type ChangeWindow } from '../../src/engine/runner/windows.js';

const MINUTE = 60_000;
const hhmm = (m: number) =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** the reference: UTC only, a day list, minutes since midnight */
function openAt(w: { days: number[]; start: number; end: number }, t: number): boolean {
  const d = new Date(t);
  const day = d.getUTCDay();
  const m = d.getUTCHours() * 60 + d.getUTCMinutes();
  const has = (x: number) => w.days.includes(x);
  if (w.start < w.end) return has(day) && m >= w.start && m < w.end;
  return (has(day) && m >= w.start) || (has((day + 6) % 7) && m < w.end);
}

const windowArb = fc.record({
  days: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 7 }),
  start: fc.integer({ min: 0, max: 24 * 60 - 1 }),
  end: fc.integer({ min: 1, max: 24 * 60 }),
});
const instantArb = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 31) });

function config(w: { days: number[]; start: number; end: number }): ChangeWindow {
  return { days: w.days.map((d) => WEEKDAYS[d]).join(','), start: hhmm(w.start), end: hhmm(w.end) };
}

describe('WindowSchedule', () => {
  it('is open exactly when a window is, and reports the first minute the state flips', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { minLength: 1, maxLength: 3 }), instantArb, (ws, t) => {
        const schedule = new WindowSchedule(ws.map(config));
        const ref = (x: number) => ws.some((w) => openAt(w, x));
        const s = schedule.at(t);
        expect(s.open).toBe(ref(t));
        if (s.until === undefined) {
          // nothing changes within 8 days: then nothing changes in a week either
          for (let x = t; x < t + 7 * 24 * 60 * MINUTE; x += 15 * MINUTE)
            expect(ref(x)).toBe(s.open);
          return;
        }
        expect(s.until).toBeGreaterThan(t);
        expect(s.until % MINUTE).toBe(0);
        expect(ref(s.until)).toBe(!s.open);
        expect(ref(s.until - MINUTE)).toBe(s.open);
        // cached: the same answer until then, a new one from then on
        expect(schedule.at(s.until - 1).open).toBe(s.open);
        expect(schedule.at(s.until).open).toBe(!s.open);
      }),
      { numRuns: 150 },
    );
  });

  it('reads the wall clock of its time zone, DST included; a window may cross midnight', () => {
    // Paris: UTC+1 in winter, UTC+2 from 2026-03-29 01:00 UTC
    const paris = new WindowSchedule([
      { days: 'mon-fri', start: '01:00', end: '05:00', tz: 'Europe/Paris' },
    ]);
    expect(paris.at(Date.UTC(2026, 2, 27, 0, 0)).open).toBe(true); // Fri 01:00 Paris
    expect(paris.at(Date.UTC(2026, 2, 26, 23, 59)).open).toBe(false); // Thu 00:59 Paris
    expect(paris.at(Date.UTC(2026, 2, 27, 3, 59)).until).toBe(Date.UTC(2026, 2, 27, 4, 0));
    // closed from Friday 05:00 to Monday 01:00 Paris, which is Sunday 23:00 UTC (summer time)
    expect(paris.at(Date.UTC(2026, 2, 28, 12, 0))).toEqual({
      open: false,
      until: Date.UTC(2026, 2, 29, 23, 0),
    });
    const night = new WindowSchedule([{ days: 'fri', start: '22:00', end: '02:00' }]);
    expect(night.at(Date.UTC(2026, 2, 28, 1, 0)).open).toBe(true); // Sat 01:00: Friday's night
    expect(night.at(Date.UTC(2026, 2, 27, 1, 0)).open).toBe(false); // Fri 01:00: Thursday's
  });

  it('refuses a window the config schema would have refused', () => {
    expect(() => new WindowSchedule([{ days: 'someday', start: '01:00', end: '02:00' }])).toThrow(
      /windows\[0\]: 'someday' is not a list of days/,
    );
  });
});
