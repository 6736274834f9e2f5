/**
 * The dashboard's controls: pause, resume, throttle, stage and rollback, each the same engine
 * call the CLI makes (backfill.ts setPaused/setThrottle, stages.ts setStage, rollback.ts), made
 * as the dashboard's actor, so each is in the audit log like the CLI's.
 *
 * Rules:
 * - Requests reach this module only after the server checked the token and the origin.
 * - Every control needs a reason (400 without one). A malformed request (400) or an unknown
 *   migration (404) is answered before any engine call, and changes nothing. A refusal by the
 *   engine (wrong status, illegal transition, or a stage change whose `expect` — the state the
 *   operator saw — is no longer current) is 409 with the engine's reason, and the engine has
 *   audited it, as it does for the CLI.
 * - A control that starts writing what reviewers must approve first asks for the approvals the
 *   config requires, as the CLI does (state/approvals.ts requireApprovals): resuming a backfill
 *   ('backfill'), moving a side-by-side migration to live or changing its live percent
 *   ('cutover'). A refusal is 409 naming the approvals missing; like the CLI's, it changes
 *   nothing and is not audited. Rollbacks never wait for approvals.
 * - An in-place rollback runs as a background job of this process (jobs.ts), answered 202; a
 *   side-by-side rollback steps the stage back, as `switchyard rollback` does.
 */
import { z } from 'zod';
import { errorMessage, InputError } from '../core/errors.js';
import { setPaused, setThrottle } from '../engine/backfill.js';
import type { EngineContext } from '../engine/context.js';
import {
  isStage,
  rollbackTarget,
  setStage,
  sideBySideState,
  Stage,
  STAGE_ORDER,
  type SideBySideState,
} from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Project } from '../project.js';
import type { ApprovalAction } from '../config/config-schema.js';
import { approvalsNeeded, requireApprovals } from '../state/approvals.js';
import { CatalogConflictError } from '../state/catalog.js';
import type { ControlAction, ControlResponse } from './api-types.js';
import type { Jobs } from './jobs.js';
import type { MigrationFiles } from './migration-files.js';

export const CONTROL_ACTIONS: readonly ControlAction[] = [
  'pause',
  'resume',
  'throttle',
  'stage',
  'rollback',
];

export interface ControlContext {
  project: Project;
  files: MigrationFiles;
  /** who acts, for the audit log: dashboard:<user>@<host> */
  actor: string;
  jobs: Jobs;
}

/** How long a rollback request waits for its job to be refused before answering 202. */
const ROLLBACK_START_WAIT_MS = 750;

const positiveInt = z.number().int().positive().max(1_000_000_000);
const requestSchema = z
  .object({
    reason: z
      .string({ error: 'a reason is required (it goes to the audit log)' })
      .trim()
      .min(1, 'a reason is required (it goes to the audit log)')
      .max(1000),
    rate: positiveInt.optional(),
    batchSize: positiveInt.max(100_000).optional(),
    stage: z.string().optional(),
    percent: z.number().min(0).max(100).optional(),
    expect: z
      .object({
        stage: z.string(),
        percent: z.number().min(0).max(100),
        changedAt: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function answer(status: number, message: string, extra: Partial<ControlResponse> = {}) {
  return { ok: status < 300, status, message, ...extra } satisfies ControlResponse;
}

export function isControlAction(s: string): s is ControlAction {
  return (CONTROL_ACTIONS as readonly string[]).includes(s);
}

export async function runControl(
  c: ControlContext,
  id: string,
  action: ControlAction,
  body: unknown,
): Promise<ControlResponse> {
  try {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || 'body';
      throw new HttpError(400, `${field}: ${issue.message}`);
    }
    return await dispatch(c, id, action, parsed.data);
  } catch (err) {
    if (err instanceof HttpError) return answer(err.status, err.message);
    if (err instanceof InputError || err instanceof CatalogConflictError)
      return answer(409, errorMessage(err));
    return answer(500, `failed: ${errorMessage(err)}`);
  }
}

async function dispatch(
  c: ControlContext,
  id: string,
  action: ControlAction,
  req: z.infer<typeof requestSchema>,
): Promise<ControlResponse> {
  const { project } = c;
  const ctx: EngineContext = {
    store: project.store,
    stateStore: project.stateStore,
    catalog: project.catalog,
    audit: project.audit,
    actor: c.actor,
  };
  const entry = await project.catalog.get(id);
  const migration = async (): Promise<Migration> => {
    const all = await c.files.all().catch((err: unknown) => {
      throw new HttpError(409, `the migration files could not be loaded: ${errorMessage(err)}`);
    });
    const m = all.find((x) => x.id === id);
    if (m === undefined)
      throw new HttpError(
        entry === null ? 404 : 409,
        entry === null
          ? `no migration '${id}'`
          : `the file of migration ${id} is missing: this control needs it`,
      );
    return m;
  };
  // the approvals the config requires (none: the file is not even needed)
  const approved = async (action: ApprovalAction): Promise<void> => {
    if (approvalsNeeded(project.policy, action))
      await requireApprovals(project, await migration(), action);
  };
  const needEntry = () => {
    if (entry === null)
      throw new HttpError(404, `migration ${id} has not started: it is not in the catalog`);
  };
  // the state the operator saw: setStage refuses (and audits) when the migration moved since
  const expect = (): { expect?: SideBySideState } => {
    const x = req.expect;
    if (x === undefined) return {};
    if (!isStage(x.stage))
      throw new HttpError(400, `expect.stage: one of ${STAGE_ORDER.join(', ')}`);
    return {
      expect: {
        stage: x.stage,
        percent: x.percent,
        ...(x.changedAt !== undefined ? { changedAt: x.changedAt } : {}),
      },
    };
  };

  switch (action) {
    case 'pause':
    case 'resume': {
      needEntry();
      const paused = action === 'pause';
      if (!paused) await approved('backfill');
      const e = await setPaused(ctx, id, paused, req.reason);
      return answer(200, `${id}: ${e.status}`);
    }
    case 'throttle': {
      needEntry();
      if (req.rate === undefined && req.batchSize === undefined)
        throw new HttpError(400, 'rate: give a rate and/or a batchSize');
      const settings = {
        ...(req.rate !== undefined ? { rate: req.rate } : {}),
        ...(req.batchSize !== undefined ? { batchSize: req.batchSize } : {}),
      };
      await setThrottle(ctx, id, settings, req.reason);
      return answer(
        200,
        `${id}: ${Object.entries(settings)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    }
    case 'stage': {
      if (req.stage === undefined || !isStage(req.stage))
        throw new HttpError(400, `stage: one of ${STAGE_ORDER.join(', ')}`);
      if (req.stage === Stage.live) await approved('cutover');
      const m = await migration();
      const change = await setStage(ctx, m, req.stage, {
        ...(req.percent !== undefined ? { percent: req.percent } : {}),
        ...expect(),
        reason: req.reason,
      });
      const show = (s: { stage: string; percent: number }) =>
        s.stage === 'live' ? `live ${s.percent}%` : s.stage;
      return answer(
        200,
        change.unchanged
          ? `${id}: already ${show(change.to)}`
          : `${id}: ${show(change.from)} -> ${show(change.to)}`,
      );
    }
    case 'rollback': {
      const m = await migration();
      if (m.kind === 'side-by-side') {
        const seen = expect();
        const current = seen.expect ?? sideBySideState(entry);
        const target = rollbackTarget(current);
        if (!target.ok) throw new HttpError(409, `cannot roll back ${id}: ${target.reason}`);
        const change = await setStage(ctx, m, target.stage, {
          ...(target.percent !== undefined ? { percent: target.percent } : {}),
          ...seen,
          reason: req.reason,
        });
        return answer(200, `${id}: stepped back from ${change.from.stage} to ${change.to.stage}`);
      }
      needEntry();
      const running = c.jobs.running(id);
      if (running !== undefined)
        throw new HttpError(409, `a rollback of ${id} is already running (job ${running.id})`);
      const { view, settled } = c.jobs.startRollback(ctx, m, {
        reason: req.reason,
        ...(req.rate !== undefined ? { rate: req.rate } : {}),
      });
      // a refusal comes within a few reads: answer it as one, not as a started job
      await Promise.race([settled, new Promise((r) => setTimeout(r, ROLLBACK_START_WAIT_MS))]);
      if (view.state === 'failed')
        return answer(409, view.error ?? 'refused', { job: { ...view } });
      return answer(202, `${id}: rollback running as job ${view.id}`, { job: { ...view } });
    }
  }
}
