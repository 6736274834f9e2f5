import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import type { EngineContext } from '../../src/engine/context.js';
import {
  INITIAL_STATE,
  rollbackTarget,
  setStage,
  Stage,
  StageRefusedError,
  STAGE_ORDER,
  transition,
  type SideBySideState,
} from '../../src/engine/stages.js';
import { lowercase, renameField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { AuditLog } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';

const at = (stage: Stage, percent = 0): SideBySideState => ({ stage, percent });
const STATES: Record<string, SideBySideState> = {
  off: INITIAL_STATE,
  'dual-write': at(Stage.dualWrite),
  shadow: at(Stage.shadow),
  'live 0': at(Stage.live, 0),
  'live 40': at(Stage.live, 40),
  'live 100': at(Stage.live, 100),
  rampdown: at(Stage.rampdown, 100),
  complete: at(Stage.complete, 100),
};
const TARGETS: Record<string, [Stage, number?]> = {
  off: [Stage.off],
  'dual-write': [Stage.dualWrite],
  shadow: [Stage.shadow],
  'live 40': [Stage.live, 40],
  'live 100': [Stage.live, 100],
  rampdown: [Stage.rampdown],
  complete: [Stage.complete],
};

// ok: moves; same: accepted, nothing changes; else a fragment of the refusal's reason
const NEXT = 'one at a time';
const FINAL = 'complete: the old side';
const TABLE: Record<string, Record<string, string>> = {
  off: {
    off: 'same',
    'dual-write': 'ok',
    shadow: NEXT,
    'live 40': NEXT,
    'live 100': NEXT,
    rampdown: NEXT,
    complete: NEXT,
  },
  'dual-write': {
    off: 'ok',
    'dual-write': 'same',
    shadow: 'ok',
    'live 40': NEXT,
    'live 100': NEXT,
    rampdown: NEXT,
    complete: NEXT,
  },
  shadow: {
    off: 'ok',
    'dual-write': 'ok',
    shadow: 'same',
    'live 40': 'ok',
    'live 100': 'ok',
    rampdown: NEXT,
    complete: NEXT,
  },
  'live 0': {
    off: 'ok',
    'dual-write': 'ok',
    shadow: 'ok',
    'live 40': 'ok',
    'live 100': 'ok',
    rampdown: 'needs live at 100%',
    complete: NEXT,
  },
  'live 40': {
    off: 'ok',
    'dual-write': 'ok',
    shadow: 'ok',
    'live 40': 'same',
    'live 100': 'ok',
    rampdown: 'needs live at 100% (now 40%)',
    complete: NEXT,
  },
  'live 100': {
    off: 'ok',
    'dual-write': 'ok',
    shadow: 'ok',
    'live 40': 'ok',
    'live 100': 'same',
    rampdown: 'ok',
    complete: NEXT,
  },
  rampdown: {
    off: 'ok',
    'dual-write': 'ok',
    shadow: 'ok',
    'live 40': 'ok',
    'live 100': 'ok',
    rampdown: 'same',
    complete: 'ok',
  },
  complete: {
    off: FINAL,
    'dual-write': FINAL,
    shadow: FINAL,
    'live 40': FINAL,
    'live 100': FINAL,
    rampdown: FINAL,
    complete: 'same',
  },
};

describe('transition', () => {
  const cases = Object.entries(TABLE).flatMap(([from, row]) =>
    Object.entries(row).map(([to, want]) => ({ from, to, want })),
  );
  it.each(cases)('$from -> $to: $want', ({ from, to, want }) => {
    const [stage, percent] = TARGETS[to]!;
    const r = transition(STATES[from]!, stage, percent);
    if (want === 'ok' || want === 'same') {
      expect(r).toMatchObject({ ok: true, unchanged: want === 'same' });
      if (r.ok) {
        expect(r.next.stage).toBe(stage);
        const wantPercent =
          stage === Stage.live
            ? percent
            : stage === Stage.rampdown || stage === Stage.complete
              ? 100
              : 0;
        expect(r.next.percent).toBe(wantPercent);
      }
    } else {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toContain(want);
    }
  });

  it('covers every pair of stages', () => {
    for (const row of Object.values(TABLE)) expect(Object.keys(row)).toHaveLength(7);
    expect(new Set(Object.values(STATES).map((s) => s.stage))).toEqual(new Set(STAGE_ORDER));
  });

  it.each([
    [Stage.shadow, Stage.live, undefined, 'live needs a percent'],
    [Stage.shadow, Stage.live, -1, 'from 0 to 100, got -1'],
    [Stage.shadow, Stage.live, 101, 'from 0 to 100, got 101'],
    [Stage.shadow, Stage.live, Number.NaN, 'got NaN'],
    [Stage.off, Stage.dualWrite, 10, 'a percent applies only to live, not to dual-write'],
    [Stage.off, 'warp' as Stage, undefined, "unknown stage 'warp'"],
  ])('%s -> %s (%s) is refused: %s', (from, to, percent, reason) => {
    expect(transition(at(from), to, percent)).toEqual({
      ok: false,
      reason: expect.stringContaining(reason),
    });
  });

  it('rolls back one step to where the old side is authoritative', () => {
    expect(rollbackTarget(at(Stage.dualWrite))).toEqual({ ok: true, stage: Stage.off });
    expect(rollbackTarget(at(Stage.shadow))).toEqual({ ok: true, stage: Stage.dualWrite });
    expect(rollbackTarget(at(Stage.live, 30))).toEqual({ ok: true, stage: Stage.shadow });
    expect(rollbackTarget(at(Stage.rampdown, 100))).toEqual({
      ok: true,
      stage: Stage.live,
      percent: 100,
    });
    expect(rollbackTarget(at(Stage.off)).ok).toBe(false);
    expect(rollbackTarget(at(Stage.complete, 100)).ok).toBe(false);
    for (const s of Object.values(STATES)) {
      const back = rollbackTarget(s);
      if (back.ok) expect(transition(s, back.stage, back.percent).ok).toBe(true);
    }
  });
});

function context(actor = 'test'): Omit<EngineContext, 'store'> {
  const stateStore = new MemoryStore();
  return {
    stateStore,
    catalog: new Catalog(stateStore),
    audit: new AuditLog(stateStore),
    actor,
  };
}

const sideBySide = () =>
  compileMigration({
    id: 'm-sbs',
    collection: 'users',
    target: { collection: 'users_v2' },
    operations: [renameField('name', 'fullName')],
  });

describe('setStage', () => {
  it('walks the stages, keeping { stage, percent, changedAt, by } in the catalog and auditing', async () => {
    const ctx = context('ops@example');
    const m = sideBySide();
    const steps: [Stage, number?][] = [
      [Stage.dualWrite],
      [Stage.shadow],
      [Stage.live, 10],
      [Stage.live, 100],
      [Stage.rampdown],
      [Stage.complete],
    ];
    for (const [stage, percent] of steps)
      await setStage(ctx, m, stage, {
        ...(percent !== undefined ? { percent } : {}),
        reason: 'go',
      });
    const entry = (await ctx.catalog.get(m.id))!;
    expect(entry.sideBySide).toEqual({
      stage: 'complete',
      percent: 100,
      changedAt: expect.any(String),
      by: 'ops@example',
    });
    expect(entry).toMatchObject({ status: 'complete', kind: 'side-by-side' });
    const audit = (await ctx.audit.entries({ migration: m.id })).filter(
      (e) => e.command === 'stage',
    );
    expect(audit.map((e) => [e.params, e.outcome, e.reason, e.actor])).toEqual([
      [{ from: 'off', fromPercent: 0, to: 'dual-write', percent: 0 }, 'ok', 'go', 'ops@example'],
      [{ from: 'dual-write', fromPercent: 0, to: 'shadow', percent: 0 }, 'ok', 'go', 'ops@example'],
      [{ from: 'shadow', fromPercent: 0, to: 'live', percent: 10 }, 'ok', 'go', 'ops@example'],
      [{ from: 'live', fromPercent: 10, to: 'live', percent: 100 }, 'ok', 'go', 'ops@example'],
      [{ from: 'live', fromPercent: 100, to: 'rampdown', percent: 100 }, 'ok', 'go', 'ops@example'],
      [
        { from: 'rampdown', fromPercent: 100, to: 'complete', percent: 100 },
        'ok',
        'go',
        'ops@example',
      ],
    ]);
    expect((await ctx.audit.verify()).ok).toBe(true);
  });

  it('refuses an illegal jump with the reason (exit 2), audits it and changes nothing', async () => {
    const ctx = context();
    const m = sideBySide();
    await setStage(ctx, m, Stage.dualWrite);
    const before = await ctx.catalog.get(m.id);
    const err = await setStage(ctx, m, Stage.live, { percent: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageRefusedError);
    expect(err).toMatchObject({
      code: 'E_STAGE_REFUSED',
      exitCode: ExitCode.usage,
      message: expect.stringContaining('from dual-write the next stage is shadow'),
    });
    expect(await ctx.catalog.get(m.id)).toEqual(before);
    const last = (await ctx.audit.entries({ limit: 1 }))[0]!;
    expect(last).toMatchObject({
      command: 'stage',
      params: { from: 'dual-write', to: 'live', percent: 50 },
      outcome: expect.stringMatching(/^refused: .*next stage is shadow/),
    });
  });

  it('accepts the current stage again without writing', async () => {
    const ctx = context();
    const m = sideBySide();
    await setStage(ctx, m, Stage.dualWrite);
    const before = await ctx.catalog.get(m.id);
    const again = await setStage(ctx, m, Stage.dualWrite);
    expect(again).toMatchObject({ unchanged: true, to: { stage: 'dual-write' } });
    expect(await ctx.catalog.get(m.id)).toEqual(before);
    expect((await ctx.audit.entries({ limit: 1 }))[0]!.outcome).toBe('unchanged');
  });

  it('refuses in-place migrations, and rampdown without an exact down()', async () => {
    const ctx = context();
    const inPlace = compileMigration({
      id: 'm-in-place',
      collection: 'users',
      operations: [renameField('a', 'b')],
    });
    await expect(setStage(ctx, inPlace, Stage.dualWrite)).rejects.toThrow(
      /side-by-side migrations only/,
    );
    expect(await ctx.catalog.get(inPlace.id)).toBeNull();

    const lossy = compileMigration({
      id: 'm-lossy',
      collection: 'users',
      target: { collection: 'users_v2' },
      operations: [lowercase('email')],
    });
    for (const [s, p] of [[Stage.dualWrite], [Stage.shadow], [Stage.live, 100]] as const)
      await setStage(ctx, lossy, s, p !== undefined ? { percent: p } : {});
    await expect(setStage(ctx, lossy, Stage.rampdown)).rejects.toThrow(/no exact inverse/);
    const outcomes = (await ctx.audit.entries()).map((e) => e.outcome);
    expect(outcomes.filter((o) => o.startsWith('refused'))).toHaveLength(2);
  });

  it('never loses a change when many operators set the percent at once (CAS)', async () => {
    const ctx = context();
    const m = sideBySide();
    await setStage(ctx, m, Stage.dualWrite);
    await setStage(ctx, m, Stage.shadow);
    await setStage(ctx, m, Stage.live, { percent: 0 });
    const percents = Array.from({ length: 20 }, (_, i) => i + 1);
    const changes = await Promise.all(
      percents.map((p) => setStage(ctx, m, Stage.live, { percent: p })),
    );
    // each change starts from what the previous one wrote: one chain through all 20
    const nextOf = new Map(changes.map((c) => [c.from.percent, c.to.percent]));
    expect(nextOf.size).toBe(20);
    let p = 0;
    for (let i = 0; i < 20; i++) p = nextOf.get(p)!;
    expect(new Set(changes.map((c) => c.to.percent))).toEqual(new Set(percents));
    expect((await ctx.catalog.get(m.id))!.sideBySide).toMatchObject({ stage: 'live', percent: p });
  });

  it('decides a racing transition on what the winner wrote', async () => {
    for (let round = 0; round < 20; round++) {
      const ctx = context();
      const m = sideBySide();
      await setStage(ctx, m, Stage.dualWrite);
      const [back, forward] = await Promise.allSettled([
        setStage(ctx, m, Stage.off),
        setStage(ctx, m, Stage.shadow),
      ]);
      const final = (await ctx.catalog.get(m.id))!.sideBySide as SideBySideState;
      expect(back.status).toBe('fulfilled'); // off is reachable from dual-write and shadow
      if (forward.status === 'fulfilled') {
        // shadow won first; off was then decided from shadow
        expect(forward.value.from.stage).toBe('dual-write');
        const b = (back as PromiseFulfilledResult<{ from: SideBySideState }>).value;
        expect(b.from.stage).toBe('shadow');
        expect(final.stage).toBe('off');
      } else {
        // off won first; shadow from off is a jump and was refused
        expect(forward.reason).toBeInstanceOf(StageRefusedError);
        expect(final.stage).toBe('off');
      }
    }
  });
});
