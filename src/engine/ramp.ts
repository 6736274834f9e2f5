/**
 * `advance`: move a side-by-side migration forward along its ramp, one gated step at a time, and
 * step back by itself when a gate fails.
 *
 *   ramp: dual-write -> shadow -> live s1 -> live s2 -> ... -> live 100   (steps: --steps)
 *
 * Rules:
 * - from dual-write the step to shadow is not gated: shadow still answers every read from the old
 *   side, and it is where comparisons start, so there is nothing to judge before it. Every later
 *   step is gated on what the runtime observed AT the current position: the window is the last
 *   `windowMs`, cut at the moment the migration reached that position (`changedAt`);
 * - a position is held for `holdMs` from the moment it was reached (an operator who ran `advance`
 *   after an hour in shadow has already held). During the hold the gates are checked every
 *   `checkEveryMs`: a failing check is a breach at once; at the end of the hold every check must
 *   pass. Pending (too little traffic) at the end stops the ramp where it is: `held`;
 * - a breach steps back (live -> shadow, shadow -> dual-write: the old side answers every read
 *   again and still holds every write), records the report and the reason in the audit log, and
 *   ends the run with outcome `stepped-back`;
 * - the ramp ends at live 100. Rampdown (the new side becomes authoritative) and complete stay
 *   explicit decisions (`switchyard stage`);
 * - without `auto`, one step and stop; every stage change goes through setStage (CAS, audited),
 *   so a concurrent operator's change is never overwritten: the ramp re-reads the stage after
 *   each wait and stops (`interrupted`) when someone else moved it.
 */
import type { Migration } from '../migration/migration.js';
import { SwitchyardError } from '../core/errors.js';
import type { EngineContext } from './context.js';
import { sleep } from './runner/throttle.js';
import {
  describeReport,
  evaluateGates,
  recordGate,
  type Gate,
  type GateReport,
  type GateWindow,
} from './gates.js';
import {
  rollbackTarget,
  setStage,
  sideBySideState,
  Stage,
  StageRefusedError,
  type SetStageOptions,
  type SideBySideState,
  type StageChange,
} from './stages.js';

export const DEFAULT_STEPS: readonly number[] = [1, 5, 25, 50, 100];

export interface RampOptions {
  gates: readonly Gate[];
  windowMs: number;
  holdMs: number;
  steps?: readonly number[];
  minSamples?: number;
  /** how often the gates are checked during a hold (default min(5 s, hold / 4), at least 100 ms) */
  checkEveryMs?: number;
  auto?: boolean;
  reason?: string;
  signal?: AbortSignal;
  /** the runtime counters over the last `windowMs` (runtime/counters.ts readRuntimeWindow) */
  readWindow: (migrationId: string, windowMs: number) => Promise<GateWindow>;
  onEvent?: (event: RampEvent) => void;
}

export type RampEvent =
  | { type: 'hold'; at: SideBySideState; untilMs: number }
  | { type: 'gate'; report: GateReport }
  | { type: 'step'; change: StageChange }
  | { type: 'stepped-back'; change: StageChange; report: GateReport };

export type RampOutcome =
  /** one step taken (without auto) */
  | 'advanced'
  /** at the end of the ramp (live 100) */
  | 'done'
  /** a gate failed: stepped back */
  | 'stepped-back'
  /** too little traffic to judge at the end of a hold: stopped where it is */
  | 'held'
  /** the stage was moved by someone else, or the signal fired */
  | 'interrupted';

export interface RampResult {
  outcome: RampOutcome;
  state: SideBySideState;
  message: string;
  changes: StageChange[];
  lastReport?: GateReport;
}

export class RampRefusedError extends SwitchyardError {
  override readonly code = 'E_RAMP_REFUSED';
}

/** The next position of the ramp after `s`, or null at its end. */
export function nextPosition(
  s: SideBySideState,
  steps: readonly number[],
): { stage: Stage; percent?: number } | null {
  switch (s.stage) {
    case Stage.dualWrite:
      return { stage: Stage.shadow };
    case Stage.shadow:
      return { stage: Stage.live, percent: steps[0]! };
    case Stage.live: {
      const next = steps.find((p) => p > s.percent);
      return next === undefined ? null : { stage: Stage.live, percent: next };
    }
    default:
      return null;
  }
}

export function parseSteps(text: string): number[] {
  const steps = text.split(',').map((s) => Number(s.trim()));
  if (steps.length === 0 || steps.some((p) => !(p > 0 && p <= 100)))
    throw new RangeError(`steps must be percentages in (0, 100], got '${text}'`);
  for (let i = 1; i < steps.length; i++)
    if (steps[i]! <= steps[i - 1]!) throw new RangeError(`steps must increase, got '${text}'`);
  return steps;
}

export async function advance(
  ctx: EngineContext,
  m: Migration,
  o: RampOptions,
): Promise<RampResult> {
  const steps = o.steps ?? DEFAULT_STEPS;
  const changes: StageChange[] = [];
  let lastReport: GateReport | undefined;
  const read = async () => sideBySideState(await ctx.catalog.get(m.id));
  let state = await read();
  if (state.stage === Stage.off)
    throw new RampRefusedError(
      `${m.id} is off: start dual writes (switchyard stage ${m.id} dual-write) and backfill first`,
    );
  const done = (outcome: RampOutcome, message: string): RampResult => ({
    outcome,
    state,
    message,
    changes,
    ...(lastReport !== undefined ? { lastReport } : {}),
  });

  /** setStage on the exact state judged; the change is recorded, null when someone moved it */
  const move = async (stage: Stage, percent: number | undefined, reason: string) => {
    const change = await moveOrInterrupt(ctx, m, stage, {
      ...(percent !== undefined ? { percent } : {}),
      reason,
      command: 'advance',
      expect: state,
    });
    if (change !== null) {
      changes.push(change);
      state = change.to;
    }
    return change;
  };
  const movedMeanwhile = async () => {
    state = await read();
    return done('interrupted', `${m.id} was moved by someone else meanwhile`);
  };

  for (;;) {
    const next = nextPosition(state, steps);
    if (next === null)
      return done(
        'done',
        state.stage === Stage.live
          ? `${m.id} is at live ${state.percent}%, the end of the ramp (rampdown and complete are explicit: switchyard stage)`
          : `${m.id} is ${state.stage}: nothing to advance`,
      );
    if (state.stage !== Stage.dualWrite) {
      const judged = await hold(ctx, m, state, o);
      if (judged.report !== undefined) lastReport = judged.report;
      if (judged.kind === 'interrupted') {
        state = await read();
        return done('interrupted', judged.message);
      }
      if (judged.kind === 'fail') {
        const target = rollbackTarget(state);
        if (!target.ok) throw new RampRefusedError(target.reason);
        const change = await move(
          target.stage,
          target.percent,
          `gate failed at ${show(state)}: ${describeReport(judged.report!)}`,
        );
        if (change === null) return movedMeanwhile();
        o.onEvent?.({ type: 'stepped-back', change, report: judged.report! });
        return done(
          'stepped-back',
          `gate failed at ${show(change.from)}; stepped back to ${show(change.to)}: ${describeReport(judged.report!)}`,
        );
      }
      if (judged.kind === 'pending')
        return done(
          'held',
          `held at ${show(state)}: not enough traffic to judge the gates: ${describeReport(judged.report!)}`,
        );
    }
    const change = await move(
      next.stage,
      next.percent,
      lastReport !== undefined && state.stage !== Stage.dualWrite
        ? `gates passed at ${show(state)}: ${describeReport(lastReport)}${o.reason !== undefined ? ` (${o.reason})` : ''}`
        : (o.reason ?? 'advance'),
    );
    if (change === null) return movedMeanwhile();
    o.onEvent?.({ type: 'step', change });
    if (o.auto !== true) return done('advanced', `${m.id}: ${show(change.from)} -> ${show(state)}`);
  }
}

/** setStage conditional on the state the ramp judged; null when someone moved it meanwhile. */
async function moveOrInterrupt(
  ctx: EngineContext,
  m: Migration,
  stage: Stage,
  options: SetStageOptions,
): Promise<StageChange | null> {
  try {
    return await setStage(ctx, m, stage, options);
  } catch (err) {
    if (err instanceof StageRefusedError && /moved meanwhile/.test(err.message)) return null;
    throw err;
  }
}

type Judged =
  | { kind: 'pass' | 'fail' | 'pending'; report: GateReport }
  | { kind: 'interrupted'; message: string; report?: GateReport };

/** Hold at `state` and judge it: a breach during the hold, or the verdict at its end. */
async function hold(
  ctx: EngineContext,
  m: Migration,
  state: SideBySideState,
  o: RampOptions,
): Promise<Judged> {
  const reachedAt = state.changedAt !== undefined ? Date.parse(state.changedAt) : Date.now();
  const until = reachedAt + o.holdMs;
  const every = o.checkEveryMs ?? Math.max(100, Math.min(5000, o.holdMs / 4));
  o.onEvent?.({ type: 'hold', at: state, untilMs: until });
  let report: GateReport | undefined;
  for (;;) {
    const now = Date.now();
    const windowMs = Math.max(1, Math.min(o.windowMs, now - reachedAt));
    const w = await o.readWindow(m.id, windowMs);
    report = evaluateGates(m.id, o.gates, w, {
      ...(o.minSamples !== undefined ? { minSamples: o.minSamples } : {}),
      stage: state.stage,
      percent: state.percent,
    });
    await recordGate(ctx.stateStore, report);
    o.onEvent?.({ type: 'gate', report });
    const final = now >= until;
    if (report.result === 'fail' || final) {
      await ctx.audit.append({
        actor: ctx.actor,
        command: 'gate',
        migration: m.id,
        params: { stage: state.stage, percent: state.percent, windowMs, checks: report.checks },
        outcome:
          report.result === 'pass'
            ? 'ok'
            : `${report.result === 'fail' ? 'failed' : 'pending'}: ${describeReport(report)}`,
      });
      return { kind: report.result, report };
    }
    await sleep(Math.min(every, until - now), o.signal);
    if (o.signal?.aborted === true)
      return { kind: 'interrupted', message: 'stopped by a signal', report };
    const current = sideBySideState(await ctx.catalog.get(m.id));
    if (!sameState(current, state))
      return {
        kind: 'interrupted',
        message: `${m.id} was moved to ${show(current)} by ${current.by ?? 'someone else'} during the hold`,
        report,
      };
  }
}

function sameState(a: SideBySideState, b: SideBySideState): boolean {
  return a.stage === b.stage && a.percent === b.percent && a.changedAt === b.changedAt;
}

function show(s: SideBySideState): string {
  return s.stage === Stage.live ? `live ${s.percent}%` : s.stage;
}
