import { requireApprovals } from '../../state/approvals.js';
import { UsageError } from '../../core/errors.js';
import {
  DEFAULT_MIN_SAMPLES,
  describeReport,
  evaluateGates,
  gatesFromThresholds,
  parseDuration,
  parseGates,
  recordGate,
  type Gate,
  type GateReport,
} from '../../engine/gates.js';
import { advance, DEFAULT_STEPS, parseSteps, type RampEvent } from '../../engine/ramp.js';
import { sideBySideState, Stage, type SideBySideState } from '../../engine/stages.js';
import type { Project } from '../../project.js';
import { readRuntimeWindow } from '../../runtime/counters.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withInterrupt } from '../interrupt.js';
import { withProject } from '../open-project.js';
import { AlertType } from '../../observe/alerts.js';
import { alertWebhookOption, openCommandAlerts, type AlertCliOptions } from '../alert-options.js';

export const DEFAULT_GATE = 'mismatch<0.1%,errors<0.5%,p99<1.2x';
export const DEFAULT_WINDOW = '60s';
export const DEFAULT_HOLD = '5m';

export interface GateCliOptions {
  gate?: string;
  window?: string;
  minSamples?: number;
}

export const GATE_OPTIONS = [
  {
    flags: '--gate <checks>',
    description: `conditions over the runtime's published counters: mismatch and errors as rates (0.1%), p50/p99 as the new side's latency over the old side's (1.2x) or in ms; a shorthand for the config's thresholds with action block, which are the gates without it (advance default otherwise: "${DEFAULT_GATE}")`,
  },
  {
    flags: '--window <duration>',
    description: `how far back the counters are summed, cut at the last stage change (e.g. 60s, 5m; default ${DEFAULT_WINDOW})`,
  },
  {
    flags: '--min-samples <n>',
    description: `comparisons (mismatch) or calls (errors, latency) a check needs before it can pass (default ${DEFAULT_MIN_SAMPLES})`,
    positiveInt: true,
  },
] as const;

export function showState(s: SideBySideState): string {
  return s.stage === Stage.live ? `live ${s.percent}%` : s.stage;
}

/** Check the gates once, over the window since the migration reached its current stage. */
export async function checkGatesNow(
  project: Project,
  migrationId: string,
  gates: readonly Gate[],
  windowMs: number,
  minSamples: number | undefined,
): Promise<GateReport> {
  const state = sideBySideState(await project.catalog.get(migrationId));
  const since = state.changedAt !== undefined ? Date.parse(state.changedAt) : 0;
  const effective = Math.max(1, Math.min(windowMs, Date.now() - since));
  const w = await readRuntimeWindow(project.stateStore, migrationId, effective);
  const report = evaluateGates(migrationId, gates, w, {
    ...(minSamples !== undefined ? { minSamples } : {}),
    stage: state.stage,
    percent: state.percent,
  });
  await recordGate(project.stateStore, report);
  return report;
}

interface AdvanceCliOptions extends GateCliOptions, AlertCliOptions {
  auto?: boolean;
  steps?: string;
  hold?: string;
  checkEvery?: string;
  reason?: string;
}

export const advanceCommand = defineCommand<AdvanceCliOptions>({
  spec: {
    name: 'advance',
    summary:
      'move a side-by-side migration forward along its ramp, gated, stepping back on a breach',
    details: [
      'The ramp: dual-write -> shadow -> live at each of --steps (default 1,5,25,50,100). The step from dual-write to shadow is not gated (shadow still answers every read from the old side). Every later step first holds the current position for --hold (counted from when it was reached) while the gates are checked over the runtime counters the applications publish (the window is cut at the last stage change): a failing check steps the migration back at once (live -> shadow, shadow -> dual-write) and records why in the audit log; at the end of the hold every check must pass. Too little traffic to judge leaves the migration where it is.',
      'Without --auto, one step; with --auto, the whole ramp, unattended, up to live 100%. Rampdown and complete stay explicit (switchyard stage). Exit 0 when it advanced (or the ramp is done); 1 when a gate failed (stepped back), could not be judged (held), or someone else moved the stage meanwhile.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--auto', description: 'run the whole ramp, not one step' },
      {
        flags: '--steps <list>',
        description: `the live percentages of the ramp, increasing (default ${DEFAULT_STEPS.join(',')})`,
      },
      {
        flags: '--hold <duration>',
        description: `how long each position is held and watched before the next step (default ${DEFAULT_HOLD})`,
      },
      ...GATE_OPTIONS,
      {
        flags: '--check-every <duration>',
        description:
          'how often the gates are checked during a hold (default a quarter of the hold, at most 5s)',
      },
      { flags: '--reason <text>', description: 'why, for the audit log' },
      alertWebhookOption('a gate fails and the migration steps back'),
    ],
    examples: [
      { command: 'switchyard advance users-v2' },
      {
        command:
          'switchyard advance users-v2 --auto --steps 1,5,25,50,100 --hold 5m --gate "mismatch<0.1%,errors<0.5%,p99<1.2x" --window 60s',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    // --gate for this run; else the config's `block` thresholds for the migration; else the default
    const flagGates = options.gate !== undefined ? parseGates(options.gate) : undefined;
    let gates: readonly Gate[] = flagGates ?? parseGates(DEFAULT_GATE);
    const windowMs = parseDuration(options.window ?? DEFAULT_WINDOW, '--window');
    const holdMs = parseDuration(options.hold ?? DEFAULT_HOLD, '--hold');
    const checkEveryMs =
      options.checkEvery !== undefined
        ? parseDuration(options.checkEvery, '--check-every')
        : undefined;
    let steps: number[] = [...DEFAULT_STEPS];
    if (options.steps !== undefined) {
      try {
        steps = parseSteps(options.steps);
      } catch (err) {
        throw new UsageError(`--steps: ${(err as Error).message}`, { field: '--steps' });
      }
    }
    const onEvent = (e: RampEvent) => {
      if (ctx.json) return;
      if (e.type === 'hold')
        ctx.info(
          `holding ${showState(e.at)} until ${new Date(e.untilMs).toISOString()}, checking ${gates.map((g) => g.text).join(', ')}`,
        );
      else if (e.type === 'step')
        ctx.info(`${e.change.migration}: ${showState(e.change.from)} -> ${showState(e.change.to)}`);
      else if (e.type === 'stepped-back')
        ctx.info(
          `${e.change.migration}: gate failed, stepped back ${showState(e.change.from)} -> ${showState(e.change.to)}`,
        );
    };
    const alerts = openCommandAlerts(ctx, 'advance', options);
    const result = await withProject(ctx, async (project) => {
      const m = await project.migration(id!);
      if (m.kind !== 'side-by-side')
        throw new UsageError(
          `${m.id} is an in-place migration: advance moves side-by-side stages`,
          {
            field: 'id',
          },
        );
      await requireApprovals(project, m, 'cutover');
      gates = flagGates ?? gatesFromThresholds(project.policy.thresholds, m.id) ?? gates;
      return withInterrupt((signal) =>
        advance(project, m, {
          gates,
          windowMs,
          holdMs,
          steps,
          auto: options.auto === true,
          signal,
          onEvent,
          readWindow: (mid, ms) => readRuntimeWindow(project.stateStore, mid, ms),
          ...(options.minSamples !== undefined ? { minSamples: options.minSamples } : {}),
          ...(checkEveryMs !== undefined ? { checkEveryMs } : {}),
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
        }),
      );
    })
      .then((r) => {
        if (r.outcome === 'stepped-back')
          alerts.send({
            type: AlertType.gateFailed,
            migration: r.lastReport?.migration ?? id!,
            message: r.message,
            details: {
              steppedBackTo: r.state,
              ...(r.lastReport !== undefined ? { gate: r.lastReport } : {}),
            },
          });
        return r;
      })
      .catch((err: unknown) => {
        alerts.failed(err, 'advance', id ?? null);
        throw err;
      })
      .finally(() => alerts.close());
    if (ctx.json) ctx.outJson(result);
    else {
      ctx.out(result.message);
      if (
        result.lastReport !== undefined &&
        (result.outcome === 'advanced' || result.outcome === 'done')
      )
        ctx.info(`last gate check: ${describeReport(result.lastReport)}`);
    }
    switch (result.outcome) {
      case 'advanced':
      case 'done':
        return 0;
      default:
        return 1;
    }
  },
});
