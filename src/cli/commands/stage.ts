import { requireApprovals } from '../../state/approvals.js';
import { UsageError } from '../../core/errors.js';
import {
  isStage,
  rollbackTarget,
  setStage,
  sideBySideState,
  Stage,
  STAGE_ORDER,
  type StageChange,
} from '../../engine/stages.js';
import type { Migration } from '../../migration/migration.js';
import type { Project } from '../../project.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';
import {
  describeReport,
  gatesFromThresholds,
  parseDuration,
  parseGates,
  type GateReport,
} from '../../engine/gates.js';
import type { SideBySideState } from '../../engine/stages.js';
import {
  checkGatesNow,
  DEFAULT_WINDOW,
  GATE_OPTIONS,
  showState,
  type GateCliOptions,
} from './advance.js';

function describeChange(c: StageChange): string {
  const show = (s: StageChange['to']) => (s.stage === Stage.live ? `live ${s.percent}%` : s.stage);
  return c.unchanged
    ? `${c.migration}: already ${show(c.to)}`
    : `${c.migration}: ${show(c.from)} -> ${show(c.to)}`;
}

function report(ctx: CliContext, change: StageChange): number {
  if (ctx.json) ctx.outJson(change);
  else ctx.info(describeChange(change));
  return 0;
}

/** Step a side-by-side migration back to the nearest stage where the old side is authoritative. */
export async function stepBack(
  project: Project,
  m: Migration,
  reason?: string,
): Promise<StageChange> {
  const target = rollbackTarget(sideBySideState(await project.catalog.get(m.id)));
  if (!target.ok)
    throw new UsageError(`cannot roll back ${m.id}: ${target.reason}`, { field: 'id' });
  return setStage(project, m, target.stage, {
    ...(target.percent !== undefined ? { percent: target.percent } : {}),
    ...(reason !== undefined ? { reason } : {}),
  });
}

export const stageCommand = defineCommand<{ percent?: string; reason?: string }>({
  spec: {
    name: 'stage',
    summary:
      'move a side-by-side migration to a stage (off, dual-write, shadow, live, rampdown, complete)',
    details: [
      `Stages move forward one at a time (${STAGE_ORDER.join(' -> ')}); live takes --percent (the share of keys whose reads the new side answers, sticky per key); any earlier stage can be stepped back to, since the old side is written in every stage before complete. An illegal move is refused with the reason (exit 2). Every change, and every refusal, is in the audit log. Running applications pick the stage up within their refresh interval (default 1 s).`,
    ],
    arguments: [
      { name: 'id', description: 'the migration id (or an unambiguous part of it)' },
      { name: 'stage', description: STAGE_ORDER.join(' | ') },
    ],
    options: [
      {
        flags: '--percent <n>',
        description: 'with live: the percentage of keys the new side answers (0-100)',
      },
      { flags: '--reason <text>', description: 'why, for the audit log' },
    ],
    examples: [
      { command: 'switchyard stage 20261120-users-v2 dual-write' },
      { command: 'switchyard stage users-v2 live --percent 5 --reason "canary"' },
    ],
  },
  async run(ctx: CliContext, [id, target], options): Promise<number> {
    if (!isStage(target))
      throw new UsageError(`unknown stage '${target}': one of ${STAGE_ORDER.join(', ')}`, {
        field: 'stage',
      });
    const percent = options.percent === undefined ? undefined : Number(options.percent);
    if (percent !== undefined && !(percent >= 0 && percent <= 100))
      throw new UsageError(`--percent must be between 0 and 100, got '${options.percent}'`, {
        field: '--percent',
      });
    const change = await withProject(ctx, async (project) => {
      const m = await project.migration(id!);
      if (target === Stage.live) await requireApprovals(project, m, 'cutover');
      return setStage(project, m, target, {
        ...(percent !== undefined ? { percent } : {}),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
      });
    });
    return report(ctx, change);
  },
});

export const cutoverCommand = defineCommand<{ percent?: string; reason?: string } & GateCliOptions>(
  {
    spec: {
      name: 'cutover',
      summary: 'route a sticky percentage of reads to the new side (the live stage)',
      details: [
        'The same as `switchyard stage <id> live --percent N`: from shadow (or live at another percent). Keys are chosen by a hash of key and migration id, so a key stays on its side, and raising the percent only adds keys.',
        "With --gate (or, without it, the config's thresholds whose action is block: docs/guides/thresholds.md), the change is made only when every check passes over the runtime counters of the last --window (cut at the last stage change); otherwise nothing changes and the exit code is 1. The check and its verdict are in the audit log.",
      ],
      arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
      options: [
        {
          flags: '--percent <n>',
          description: 'the percentage of keys the new side answers (0-100; required)',
        },
        ...GATE_OPTIONS,
        { flags: '--reason <text>', description: 'why, for the audit log' },
      ],
      examples: [
        { command: 'switchyard cutover 20261120-users-v2 --percent 25' },
        {
          command:
            'switchyard cutover users-v2 --percent 25 --gate "mismatch<0.1%,errors<0.5%,p99<1.2x" --window 60s',
        },
      ],
    },
    async run(ctx: CliContext, [id], options): Promise<number> {
      const percent = Number(options.percent);
      if (options.percent === undefined || !(percent >= 0 && percent <= 100))
        throw new UsageError('--percent is required: a number from 0 to 100', {
          field: '--percent',
        });
      const flagGates = options.gate !== undefined ? parseGates(options.gate) : undefined;
      const windowMs = parseDuration(options.window ?? DEFAULT_WINDOW, '--window');
      const outcome = await withProject(ctx, async (project) => {
        const m = await project.migration(id!);
        // --gate for this run; else the config's `block` thresholds for the migration, if any
        const gates = flagGates ?? gatesFromThresholds(project.policy.thresholds, m.id);
        if (gates === undefined && options.window !== undefined)
          throw new UsageError('--window goes with --gate (or block thresholds in the config)', {
            field: '--window',
          });
        await requireApprovals(project, m, 'cutover');
        let gate: GateReport | undefined;
        let expect: SideBySideState | undefined;
        if (gates !== undefined) {
          expect = sideBySideState(await project.catalog.get(m.id));
          gate = await checkGatesNow(project, m.id, gates, windowMs, options.minSamples);
          await project.audit.append({
            actor: project.actor,
            command: 'gate',
            migration: m.id,
            params: {
              stage: expect.stage,
              percent: expect.percent,
              windowMs: gate.windowMs,
              checks: gate.checks,
            },
            outcome: gate.passed
              ? 'ok'
              : `${gate.result === 'fail' ? 'failed' : 'pending'}: ${describeReport(gate)}`,
          });
          if (!gate.passed) return { gate };
        }
        const change = await setStage(project, m, Stage.live, {
          percent,
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
          ...(expect !== undefined
            ? {
                expect,
                reason: `gates passed: ${describeReport(gate!)}${options.reason !== undefined ? ` (${options.reason})` : ''}`,
              }
            : {}),
        });
        return { gate, change };
      });
      if (outcome.change === undefined) {
        const g = outcome.gate!;
        if (ctx.json) ctx.outJson({ migration: g.migration, changed: false, gate: g });
        else
          ctx.out(
            `${g.migration}: not changed: the gates ${g.result === 'fail' ? 'failed' : 'could not be judged yet'} at ${showState({ stage: g.stage as Stage, percent: g.percent ?? 0 })}: ${describeReport(g)}`,
          );
        return 1;
      }
      if (ctx.json) {
        ctx.outJson({
          ...outcome.change,
          ...(outcome.gate !== undefined ? { gate: outcome.gate } : {}),
        });
        return 0;
      }
      return report(ctx, outcome.change);
    },
  },
);
