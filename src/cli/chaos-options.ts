/**
 * `--chaos <spec>` and `--chaos-seed <n>`, one definition for every job command (backfill,
 * verify, rollback, catch-up): faults injected into the data store (store/chaos-spec.ts has the
 * syntax). The spec is parsed before anything is opened, so a bad one changes nothing (exit 2).
 * The seed is always said on stderr, so a run can be repeated; when the command is done, what
 * was injected is said too.
 */
import { parseChaos, type ChaosSpec } from '../store/chaos-spec.js';
import type { Project } from '../project.js';
import type { CliContext } from './cli-context.js';
import type { OptionSpec } from './cli-spec.js';

export interface ChaosCliOptions {
  chaos?: string;
  chaosSeed?: number;
}

export const CHAOS_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--chaos <spec>',
    description:
      'inject faults into the data store, to rehearse (refused on a store the config marks production): comma-separated latency=20ms, jitter=10ms, error=write:5%, timeout=scan:1%, timeout-after=500ms, throttle=3%, lost-ack=1%, cursor-loss=1%, outage=25%@2s+5s',
  },
  {
    flags: '--chaos-seed <n>',
    description: 'the seed of --chaos: the same seed gives the same faults (one lane, same data)',
    defaultDescription: 'drawn at random, and printed',
    wholeNumber: true,
  },
];

/** The parsed --chaos, or undefined; said on stderr with its seed. */
export function chaosFrom(ctx: CliContext, o: ChaosCliOptions): ChaosSpec | undefined {
  if (o.chaos === undefined) return undefined;
  const spec = parseChaos(o.chaos, o.chaosSeed);
  if (!ctx.quiet)
    ctx.err(`chaos: ${spec.text} (seed ${spec.seed}; repeat with --chaos-seed ${spec.seed})`);
  return spec;
}

/** One line of what the chaos injected so far (stderr), for the end of a command. */
export function reportChaos(ctx: CliContext, project: Project): void {
  const c = project.chaos;
  if (c === undefined || ctx.quiet) return;
  const s = c.store.stats;
  ctx.err(
    `chaos injected: ${s.calls} calls, ${s.failures} errors, ${s.throttled} throttled, ${s.timeouts} timeouts, ${s.outages} outage failures, ${s.lostAcks} lost acknowledgements, ${s.invalidatedCursors} lost cursors`,
  );
}
