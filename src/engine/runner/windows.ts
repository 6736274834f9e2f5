/**
 * Change windows: the times a job may write (the config's `windows`, e.g. weekdays 01:00-05:00
 * UTC). Outside every window a job on the runner waits as if paused (control-reader.ts), its
 * leases kept alive; when a window opens it goes on from its checkpoints.
 *
 * Rules:
 * - a window is `days` (mon-fri, sat,sun, daily, ...), `start` and `end` as HH:MM wall-clock time
 *   in `tz` (an IANA time zone; default UTC). `end` is exclusive; `24:00` is the end of the day.
 *   An `end` earlier than `start` crosses midnight: the window belongs to the day it starts on
 *   (fri 22:00-02:00 is open early on Saturday, not early on Friday).
 * - several windows: open when any is open.
 * - the state is computed from the clock the runner is given (tests inject one) and is cached
 *   until the next change (a window opening or closing), so the check before every batch costs
 *   nothing; the next change is looked for minute by minute (DST included), up to 8 days ahead.
 * - a job sees a window's end before its next batch: it stops within one batch of the end.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A window as the config gives it. */
export interface ChangeWindow {
  /** `mon-fri`, `sat,sun`, `mon,wed-fri`, `daily` */
  readonly days: string;
  /** HH:MM, inclusive */
  readonly start: string;
  /** HH:MM, exclusive (24:00: the end of the day); before `start`: crosses midnight */
  readonly end: string;
  /** IANA time zone (default UTC) */
  readonly tz?: string;
}

/** Where the clock stands in the windows. */
export interface WindowState {
  readonly open: boolean;
  /** when it next opens (closed) or closes (open), epoch ms; undefined: not within 8 days */
  readonly until?: number;
}

const HHMM = /^([01]\d|2[0-4]):([0-5]\d)$/;
const MINUTE = 60_000;
const HORIZON_MINUTES = 8 * 24 * 60;

/** Minutes since midnight of `HH:MM`, or a reason it is not one. */
export function parseTime(s: string): number | string {
  const m = HHMM.exec(s);
  if (m === null) return `'${s}' is not a time: write HH:MM, 24-hour (e.g. 01:00, 23:30)`;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  if (minutes > 24 * 60) return `'${s}' is past 24:00`;
  return minutes;
}

/** The weekdays of a `days` string, or a reason it is not one. */
export function parseDays(s: string): Set<Weekday> | string {
  const text = s.trim().toLowerCase();
  if (text === 'daily' || text === '*') return new Set(WEEKDAYS);
  const days = new Set<Weekday>();
  const index = (d: string) => WEEKDAYS.indexOf(d.trim() as Weekday);
  for (const part of text.split(',')) {
    const [a, b, ...rest] = part.split('-');
    const from = index(a ?? '');
    const to = b === undefined ? from : index(b);
    if (from < 0 || to < 0 || rest.length > 0)
      return `'${s}' is not a list of days: write e.g. mon-fri, sat,sun, mon,wed-fri or daily (days: ${WEEKDAYS.join(' ')})`;
    for (let i = from; ; i = (i + 1) % 7) {
      days.add(WEEKDAYS[i]!);
      if (i === to) break;
    }
  }
  return days;
}

/** Whether `tz` is a time zone this runtime knows, or a reason it is not. */
export function timeZoneProblem(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return undefined;
  } catch {
    return `'${tz}' is not a time zone: write an IANA name such as UTC, Europe/Paris or America/New_York`;
  }
}

interface Parsed {
  readonly days: ReadonlySet<Weekday>;
  readonly start: number;
  readonly end: number;
  readonly format: Intl.DateTimeFormat;
}

export class WindowSchedule {
  readonly windows: readonly ChangeWindow[];
  readonly #parsed: Parsed[];
  #cached: { from: number; to: number; state: WindowState } | undefined;

  /** The windows must be valid (the config schema checked them); throws on one that is not. */
  constructor(windows: readonly ChangeWindow[]) {
    this.windows = windows;
    this.#parsed = windows.map((w, i) => {
      const days = parseDays(w.days);
      const start = parseTime(w.start);
      const end = parseTime(w.end);
      const tzProblem = timeZoneProblem(w.tz ?? 'UTC');
      const problem = [days, start, end, tzProblem].find((x) => typeof x === 'string');
      if (problem !== undefined) throw new Error(`windows[${i}]: ${problem}`);
      return {
        days: days as Set<Weekday>,
        start: start as number,
        end: end as number,
        format: new Intl.DateTimeFormat('en-US', {
          timeZone: w.tz ?? 'UTC',
          weekday: 'short',
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        }),
      };
    });
  }

  /** Whether a window is open at `now` (epoch ms), and until when. */
  at(now: number): WindowState {
    const c = this.#cached;
    if (c !== undefined && now >= c.from && now < c.to) return c.state;
    const open = this.#openAt(now);
    // the next change, minute by minute (wall-clock minutes: every zone's offset is whole minutes)
    let t = Math.floor(now / MINUTE) * MINUTE;
    let until: number | undefined;
    for (let i = 0; i < HORIZON_MINUTES; i++) {
      t += MINUTE;
      if (this.#openAt(t) !== open) {
        until = t;
        break;
      }
    }
    const state: WindowState = { open, ...(until !== undefined ? { until } : {}) };
    this.#cached = { from: now, to: until ?? now + MINUTE, state };
    return state;
  }

  #openAt(t: number): boolean {
    return this.#parsed.some((w) => {
      const { day, minutes } = wallClock(w.format, t);
      const yesterday = WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7]!;
      if (w.start < w.end) return w.days.has(day) && minutes >= w.start && minutes < w.end;
      // crosses midnight (or start == end: the whole day from start to start)
      return (w.days.has(day) && minutes >= w.start) || (w.days.has(yesterday) && minutes < w.end);
    });
  }
}

function wallClock(format: Intl.DateTimeFormat, t: number): { day: Weekday; minutes: number } {
  let day: Weekday = 'sun';
  let hour = 0;
  let minute = 0;
  for (const p of format.formatToParts(t)) {
    if (p.type === 'weekday') day = p.value.toLowerCase().slice(0, 3) as Weekday;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day, minutes: hour * 60 + minute };
}

/** The state as published (progress in the catalog, events): `until` as an ISO time. */
export interface WindowView {
  readonly open: boolean;
  readonly until?: string;
}

export function windowView(state: WindowState): WindowView {
  return {
    open: state.open,
    ...(state.until !== undefined ? { until: new Date(state.until).toISOString() } : {}),
  };
}

/** How a closed window reads, for pauses and status lines. */
export function describeWait(state: WindowState): string {
  return state.until !== undefined
    ? `outside the change windows: waiting until ${new Date(state.until).toISOString()}`
    : 'outside the change windows: none opens within 8 days';
}
