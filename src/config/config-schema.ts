/**
 * The shape of `switchyard.config.*`, as a zod schema (validation) and the types users write
 * (`SwitchyardConfig`) and the rest of the code reads (`ResolvedConfig`).
 */
import { z } from 'zod';
import { fieldPathProblem } from '../core/input-schema.js';

export const DEFAULT_STORE_URL = 'sqlite:./switchyard.db';
export const DEFAULT_MIGRATIONS_DIR = './migrations';
export { DEFAULT_VERSION_FIELD } from '../migration/migration.js';
import { COMPATIBILITY_MODES, type CompatibilityMode } from '../migration/compatibility-mode.js';
import {
  parseDays,
  parseTime,
  timeZoneProblem,
  type ChangeWindow,
} from '../engine/runner/windows.js';
import {
  GATE_METRICS,
  isGateMetric,
  THRESHOLD_ACTIONS,
  THRESHOLD_GUARDS,
  THRESHOLD_JOBS,
  THRESHOLD_METRICS,
  type Threshold,
} from '../engine/runner/thresholds.js';

/** Actions that may need approvals first (state/approvals.ts). */
export const APPROVAL_ACTIONS = ['backfill', 'cutover'] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

export const CONFIG_FILE_NAMES = [
  'switchyard.config.ts',
  'switchyard.config.mts',
  'switchyard.config.js',
  'switchyard.config.mjs',
  'switchyard.config.json',
] as const;

const nonEmpty = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`);

/** A value a parser turns into a reason (string) or something else (fine). */
const checked = (what: string, parse: (s: string) => unknown) =>
  nonEmpty(what).superRefine((v, ctx) => {
    const r = parse(v);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  });

/** A change window (engine/runner/windows.ts): when a backfill may write. */
const windowSchema = z
  .object({
    days: checked('days', parseDays),
    start: checked('start', parseTime),
    end: checked('end', parseTime),
    tz: checked('tz', timeZoneProblem).optional(),
  })
  .strict();

const level = z
  .number({ error: 'above must be a number' })
  .min(0, 'above must not be negative')
  .refine(Number.isFinite, 'above must be a finite number');

/** A contingency threshold (engine/runner/thresholds.ts): a metric, a level, an action. */
const thresholdSchema = z
  .object({
    metric: z.enum(THRESHOLD_METRICS, {
      error: `metric must be one of ${THRESHOLD_METRICS.join(', ')}`,
    }),
    above: level,
    action: z.enum(THRESHOLD_ACTIONS, {
      error: `action must be one of ${THRESHOLD_ACTIONS.join(', ')}`,
    }),
    migration: nonEmpty('migration').optional(),
    job: z
      .enum(THRESHOLD_JOBS, { error: `job must be one of ${THRESHOLD_JOBS.join(', ')}` })
      .optional(),
    /** a second level that must be exceeded too */
    and: z
      .object({
        metric: z.enum(THRESHOLD_METRICS, {
          error: `metric must be one of ${THRESHOLD_METRICS.join(', ')}`,
        }),
        above: level,
      })
      .strict()
      .optional(),
    /** the guard this threshold stands for (the error budget) */
    guard: z
      .enum(THRESHOLD_GUARDS, { error: `guard must be one of ${THRESHOLD_GUARDS.join(', ')}` })
      .optional(),
  })
  .strict()
  // a gate (engine/gates.ts) judges the runtime's counters before a stage step: its metrics
  // block, and only they do; no job has them
  .refine((t) => isGateMetric(t.metric) === (t.action === 'block'), {
    path: ['action'],
    message: `action 'block' goes with a gate metric (${GATE_METRICS.join(', ')}), and a gate metric with action 'block'`,
  })
  .refine((t) => t.action !== 'block' || (t.job === undefined && t.and === undefined), {
    path: ['job'],
    message: "a gate (action 'block') is checked before a stage step, not by a job: no job or and",
  })
  // the error budget is dead letters counted and as a rate, for the backfill (error-budget.ts)
  .refine(
    (t) =>
      t.guard !== 'error-budget' ||
      (t.metric === 'deadLetters' &&
        t.and?.metric === 'deadLetterRate' &&
        (t.job ?? 'backfill') === 'backfill'),
    {
      path: ['guard'],
      message:
        "the error budget is { metric: 'deadLetters', above: N, and: { metric: 'deadLetterRate', above: F }, guard: 'error-budget' } for job 'backfill'",
    },
  )
  // a verify only alerts: nothing would clear a verify paused (or throttled) by a threshold, so
  // every later verify would wait (docs/guides/thresholds.md)
  .refine((t) => t.job !== 'verify' || t.action === 'alert', {
    path: ['action'],
    message: "a threshold for job 'verify' can only alert (action 'alert')",
  });

export const configSchema = z
  .object({
    /** the store URL holding the data: memory:, sqlite:PATH, redis://..., ... */
    store: nonEmpty('store').optional(),
    /** where migration files live, relative to the config file */
    migrationsDir: nonEmpty('migrationsDir').optional(),
    /** the data store is production: fault injection (`--chaos`) is refused on it */
    production: z.boolean({ error: 'production must be true or false' }).optional(),
    /** the store URL holding Switchyard's own state (default: the data store) */
    state: nonEmpty('state').optional(),
    /** the document field holding the schema version (default `_sv`) */
    versionField: nonEmpty('versionField').optional(),
    /** the compatibility mode `switchyard check` holds migrations to (default BACKWARD) */
    compatibility: z.enum(COMPATIBILITY_MODES).optional(),
    /** per collection: its own mode, and the fields other consumers read */
    collections: z
      .record(
        z.string(),
        z
          .object({
            compatibility: z.enum(COMPATIBILITY_MODES).optional(),
            /** consumer name -> the field paths it reads: removing one is an error naming it */
            consumers: z
              .record(
                z.string(),
                z.array(
                  nonEmpty('a consumer field path').superRefine((p, ctx) => {
                    const problem = fieldPathProblem(p);
                    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
                  }),
                ),
              )
              .optional(),
          })
          .strict(),
      )
      .optional(),
    /** approvals needed before a backfill or a cut-over (`switchyard approve`) */
    approvals: z
      .object({
        /** how many distinct actors must approve */
        required: z.number({ error: 'approvals.required must be a number' }).int().min(1),
        /** the migration's author may not approve it */
        forbidAuthor: z.boolean().optional(),
        /** which actions need them (default: backfill and cutover) */
        for: z.array(z.enum(APPROVAL_ACTIONS)).optional(),
      })
      .strict()
      .optional(),
    /** when a backfill may write (any window open); outside them its workers wait */
    windows: z
      .array(windowSchema, { error: 'windows must be a list of { days, start, end, tz }' })
      .min(1, 'windows must not be empty: leave it out to allow every time')
      .optional(),
    /** contingency thresholds: a metric of a running job, a level, and what happens above it */
    thresholds: z
      .array(thresholdSchema, {
        error: 'thresholds must be a list of { metric, above, action }',
      })
      .optional(),
  })
  .strict();

export interface CollectionPolicy {
  readonly compatibility?: CompatibilityMode;
  readonly consumers?: Readonly<Record<string, readonly string[]>>;
}

export interface ApprovalPolicy {
  readonly required: number;
  readonly forbidAuthor: boolean;
  readonly for: readonly ApprovalAction[];
}

/** What a config file may contain (every field optional). */
export type SwitchyardConfig = z.input<typeof configSchema>;

/** A config with defaults applied and paths made absolute. */
export interface ResolvedConfig {
  /** the config file, absolute, or undefined when none was found */
  readonly file: string | undefined;
  readonly store: string;
  /** `store` is production: `--chaos` is refused on it */
  readonly production: boolean;
  /** absolute path */
  readonly migrationsDir: string;
  /** the state store URL, or undefined to keep state in the data store */
  readonly state: string | undefined;
  readonly versionField: string;
  /** the default compatibility mode of every collection */
  readonly compatibility: CompatibilityMode;
  readonly collections: Readonly<Record<string, CollectionPolicy>>;
  /** undefined: nothing needs approvals */
  readonly approvals: ApprovalPolicy | undefined;
  /** when a backfill may write; empty: always */
  readonly windows: readonly ChangeWindow[];
  /**
   * contingency thresholds (engine/runner/thresholds.ts), the error budget among them (the
   * default one, engine/error-budget.ts, unless the config writes its own)
   */
  readonly thresholds: readonly Threshold[];
}
