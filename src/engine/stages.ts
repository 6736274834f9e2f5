/**
 * The stages of a side-by-side migration (after LaunchDarkly's six migration stages), as data:
 *
 *   off -> dual-write -> shadow -> live(percent) -> rampdown -> complete
 *
 * What each stage means for the runtime is in `STAGE_RULES`. The stage and the live percent are
 * kept in the catalog entry under `sideBySide` ({ stage, percent, changedAt, by }); no field
 * means `off`. `percent` is the share of keys whose reads the new side answers: 0 before live,
 * N in live, 100 in rampdown and complete.
 *
 * Transitions (`transition()` decides; it is pure):
 * - forward one step at a time; entering live takes a percent; live -> rampdown only at live 100
 *   (at N% the other keys have never been answered by the new side);
 * - within live, the percent may go up or down to any value in [0, 100];
 * - back to any earlier stage whose old side holds every write: from dual-write, shadow or live
 *   back to shadow, dual-write or off; from rampdown back to live (any percent; the old side got
 *   every write through down(doc)) or further. `rollbackTarget()` is one step back: live ->
 *   shadow, shadow -> dual-write, dual-write -> off, rampdown -> live 100 (the nearest stage
 *   where the app writes the old shape again, with reads not flipped back all at once);
 * - complete is final: the old side is no longer written, going back takes a new migration;
 * - asking for the current stage (and percent) again is accepted and changes nothing.
 *
 * `setStage` also refuses in-place migrations and rampdown for a migration without an exact
 * down(); it registers the migration in the catalog when needed, and entering complete sets the
 * entry's status to complete. Every attempt, refused or not, is appended to the audit log
 * (params: from, fromPercent, to, percent; outcome 'ok', 'unchanged' or 'refused: <reason>').
 */
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, registration, type CatalogEntry } from '../state/catalog.js';
import type { EngineContext } from './context.js';

export const Stage = {
  off: 'off',
  dualWrite: 'dual-write',
  shadow: 'shadow',
  live: 'live',
  rampdown: 'rampdown',
  complete: 'complete',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

export const STAGE_ORDER: readonly Stage[] = [
  Stage.off,
  Stage.dualWrite,
  Stage.shadow,
  Stage.live,
  Stage.rampdown,
  Stage.complete,
];

export interface StageRules {
  /** which side answers reads; 'by-key': the new side for the live percent of keys */
  readonly reads: 'old' | 'old-compare-new' | 'by-key' | 'new';
  /** the sides written, authoritative first; in live the order is per key */
  readonly writes: readonly ('old' | 'new')[];
  readonly authoritative: 'old' | 'by-key' | 'new';
  /** the old side is written with down(doc) (the app writes the new shape) */
  readonly oldViaDown: boolean;
}

export const STAGE_RULES: Readonly<Record<Stage, StageRules>> = {
  off: { reads: 'old', writes: ['old'], authoritative: 'old', oldViaDown: false },
  'dual-write': { reads: 'old', writes: ['old', 'new'], authoritative: 'old', oldViaDown: false },
  shadow: {
    reads: 'old-compare-new',
    writes: ['old', 'new'],
    authoritative: 'old',
    oldViaDown: false,
  },
  live: { reads: 'by-key', writes: ['old', 'new'], authoritative: 'by-key', oldViaDown: false },
  rampdown: { reads: 'new', writes: ['new', 'old'], authoritative: 'new', oldViaDown: true },
  complete: { reads: 'new', writes: ['new'], authoritative: 'new', oldViaDown: false },
};

export interface SideBySideState {
  readonly stage: Stage;
  /** share of keys read from the new side, [0, 100] */
  readonly percent: number;
  readonly changedAt?: string;
  readonly by?: string;
}

export const INITIAL_STATE: SideBySideState = Object.freeze({ stage: Stage.off, percent: 0 });

export type TransitionResult =
  | { readonly ok: true; readonly next: SideBySideState; readonly unchanged: boolean }
  | { readonly ok: false; readonly reason: string };

export function isStage(s: unknown): s is Stage {
  return typeof s === 'string' && (STAGE_ORDER as readonly string[]).includes(s);
}

/** The stage kept in a catalog entry; `off` when there is none. */
export function sideBySideState(entry: CatalogEntry | null | undefined): SideBySideState {
  const s = entry?.sideBySide as Partial<SideBySideState> | undefined;
  if (s === undefined || !isStage(s.stage)) return INITIAL_STATE;
  return s as SideBySideState;
}

/** The effective read percent of a stage: 0 before live, 100 from rampdown on. */
function percentFor(stage: Stage, livePercent: number): number {
  if (stage === Stage.live) return livePercent;
  return STAGE_ORDER.indexOf(stage) > STAGE_ORDER.indexOf(Stage.live) ? 100 : 0;
}

/** Decide whether `current` may move to `target` (with `percent` for live). Pure. */
export function transition(
  current: SideBySideState,
  target: Stage,
  percent?: number,
): TransitionResult {
  const refuse = (reason: string): TransitionResult => ({ ok: false, reason });
  if (!isStage(target))
    return refuse(`unknown stage '${String(target)}': one of ${STAGE_ORDER.join(', ')}`);
  if (target === Stage.live) {
    if (percent === undefined) return refuse('live needs a percent (0-100)');
    if (!Number.isFinite(percent) || percent < 0 || percent > 100)
      return refuse(`percent must be a number from 0 to 100, got ${percent}`);
  } else if (percent !== undefined) {
    return refuse(`a percent applies only to live, not to ${target}`);
  }
  const from = current.stage;
  const next: SideBySideState = { stage: target, percent: percentFor(target, percent ?? 0) };
  if (from === target) {
    if (target !== Stage.live || percent === current.percent)
      return { ok: true, next: { ...next, percent: current.percent }, unchanged: true };
    return { ok: true, next, unchanged: false };
  }
  if (from === Stage.complete)
    return refuse('the migration is complete: the old side is no longer written');
  const i = STAGE_ORDER.indexOf(from);
  const j = STAGE_ORDER.indexOf(target);
  if (j > i) {
    if (j !== i + 1)
      return refuse(
        `stages move forward one at a time: from ${from} the next stage is ${STAGE_ORDER[i + 1]}`,
      );
    if (target === Stage.rampdown && current.percent !== 100)
      return refuse(
        `rampdown needs live at 100% (now ${current.percent}%): raise the percent first`,
      );
    return { ok: true, next, unchanged: false };
  }
  // backward: every earlier stage up to live keeps the old side whole (see the header)
  return { ok: true, next, unchanged: false };
}

/** One step back to where the old side is authoritative again, or why there is none. */
export function rollbackTarget(
  current: SideBySideState,
): { ok: true; stage: Stage; percent?: number } | { ok: false; reason: string } {
  switch (current.stage) {
    case Stage.off:
      return { ok: false, reason: 'the migration is off: nothing to roll back' };
    case Stage.complete:
      return { ok: false, reason: 'the migration is complete: going back takes a new migration' };
    case Stage.rampdown:
      return { ok: true, stage: Stage.live, percent: 100 };
    default:
      return { ok: true, stage: STAGE_ORDER[STAGE_ORDER.indexOf(current.stage) - 1]! };
  }
}

/** thrown inside the catalog update to leave the entry as it is */
const UNCHANGED = new Error('unchanged');

export class StageRefusedError extends InputError {
  override readonly code = 'E_STAGE_REFUSED';
}

export interface SetStageOptions {
  percent?: number;
  reason?: string;
  /** the command recorded in the audit log (default 'stage') */
  command?: string;
  /** refuse unless the migration is still exactly here (stage, percent, changedAt): a CAS for automation */
  expect?: SideBySideState;
}

export interface StageChange {
  readonly migration: string;
  readonly from: SideBySideState;
  readonly to: SideBySideState;
  readonly unchanged: boolean;
}

/**
 * Move a side-by-side migration to `target`, conditional on the catalog entry's rev (so two
 * operators never lose each other's change: the loser's transition is decided again on what the
 * winner wrote). Throws StageRefusedError (exit 2) with the reason when the move is not allowed.
 */
export async function setStage(
  ctx: Omit<EngineContext, 'store'>,
  m: Migration,
  target: Stage,
  options: SetStageOptions = {},
): Promise<StageChange> {
  const base = {
    actor: ctx.actor,
    command: options.command ?? 'stage',
    migration: m.id,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
  };
  const refuse = async (from: SideBySideState | null, why: string): Promise<never> => {
    await ctx.audit.append({
      ...base,
      params: { from: from?.stage ?? null, to: target, percent: options.percent ?? null },
      outcome: `refused: ${why}`,
    });
    throw new StageRefusedError(`${m.id}: ${why}`, { field: 'stage' });
  };
  if (m.kind !== 'side-by-side')
    return refuse(null, 'stages apply to side-by-side migrations only (this one has no target)');
  if (target === Stage.rampdown && !m.reversible)
    return refuse(
      null,
      `rampdown writes the old side with down(doc), and this migration has no exact inverse: ` +
        m.lossy.map((l) => `${l.step} (${l.reason})`).join('; '),
    );
  await ctx.catalog.register(registration(m));

  let from: SideBySideState = INITIAL_STATE;
  let to: SideBySideState = INITIAL_STATE;
  let unchanged = false;
  try {
    await ctx.catalog.update(m.id, (e) => {
      from = sideBySideState(e);
      const x = options.expect;
      if (
        x !== undefined &&
        (x.stage !== from.stage || x.percent !== from.percent || x.changedAt !== from.changedAt)
      )
        throw new StageRefusedError(
          `it was moved meanwhile (now ${from.stage}${from.stage === Stage.live ? ` ${from.percent}%` : ''}, by ${from.by ?? 'someone else'})`,
        );
      const decided = transition(from, target, options.percent);
      if (!decided.ok) throw new StageRefusedError(decided.reason);
      if (decided.unchanged) throw UNCHANGED; // nothing to write
      const now = new Date().toISOString();
      to = { ...decided.next, changedAt: now, by: ctx.actor };
      const done = target === Stage.complete;
      return {
        ...e,
        sideBySide: to,
        ...(done ? { status: MigrationStatus.complete, completedAt: now } : {}),
      };
    });
  } catch (err) {
    if (err instanceof StageRefusedError) return refuse(from, err.message);
    if (err !== UNCHANGED) throw err;
    unchanged = true;
    to = from;
  }
  await ctx.audit.append({
    ...base,
    params: { from: from.stage, fromPercent: from.percent, to: to.stage, percent: to.percent },
    outcome: unchanged ? 'unchanged' : 'ok',
  });
  return { migration: m.id, from, to, unchanged };
}
