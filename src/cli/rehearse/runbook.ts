/**
 * The runbook a rehearsal writes (Markdown): for the person on call during the real migration,
 * the exact commands to pause, throttle, roll back and step back, each with the time the
 * rehearsal measured for it and the thresholds in force. Every number in it comes from the
 * report of the run; nothing is estimated here except the linear extrapolation the report holds.
 */
import { describeThreshold, type Threshold } from '../../engine/runner/thresholds.js';
import type { Migration } from '../../migration/migration.js';
import type { RehearsalReport, StepResult } from './rehearsal.js';

export interface RunbookContext {
  migration: Migration;
  /** global flags the real commands need (e.g. --store ..., password redacted), or '' */
  storeFlags: string;
  /** the backfill flags of the rehearsal: the guards that were in force */
  backfillFlags: readonly string[];
  /** the config's contingency thresholds that apply to this migration (any job) */
  thresholds?: readonly Threshold[];
  batchSize: number;
  leaseTtlMs: number;
  maxStoreRetries: number;
  /** approvals the config asks for, in words, or undefined */
  approvals?: string;
  /** when the rehearsal ran */
  at: Date;
  actor: string;
}

/** 1234 ms -> "1.2 s"; 95_000 -> "1 min 35 s"; 7_200_000 -> "2 h 0 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function stepRow(r: RehearsalReport, s: StepResult): string {
  const rate =
    s.ms > 0 && s.extrapolatedMs !== undefined ? Math.round((r.copied * 1000) / s.ms) : undefined;
  return `| ${s.step} | ${s.status} | ${s.status === 'skipped' ? '-' : duration(s.ms)} | ${rate !== undefined ? `${rate.toLocaleString('en-US')} docs/s` : '-'} | ${s.extrapolatedMs !== undefined ? duration(s.extrapolatedMs) : '-'} | ${s.detail.replaceAll('|', '\\|')} |`;
}

export function renderRunbook(r: RehearsalReport, c: RunbookContext): string {
  const m = c.migration;
  const sy = `switchyard${c.storeFlags !== '' ? ` ${c.storeFlags}` : ''}`;
  const step = (name: string) => r.steps.find((s) => s.step === name);
  const measured = (name: string): string => {
    const s = step(name);
    if (s === undefined || s.status !== 'ok')
      return `not measured (the ${name} step ${s?.status ?? 'did not run'})`;
    return `${duration(s.ms)} for ${r.copied.toLocaleString('en-US')} documents in the rehearsal; about ${duration(s.extrapolatedMs ?? s.ms)} for all ${r.total.toLocaleString('en-US')}`;
  };
  const bf = step('backfill');
  const bfRate =
    bf !== undefined && bf.status === 'ok' && bf.ms > 0
      ? Math.round((r.copied * 1000) / bf.ms)
      : undefined;
  const guards =
    c.backfillFlags.length > 0
      ? c.backfillFlags.join(' ')
      : 'none given: the backfill runs until it ends or a store call fails for good';
  const lines = [
    `# Runbook: ${m.id}`,
    '',
    `Collection \`${m.collection}\`, in place, version ${m.from} -> ${m.to}. Rehearsed ${c.at.toISOString()} by ${c.actor} on a copy of ${r.copied.toLocaleString('en-US')} of ${r.total.toLocaleString('en-US')} documents (scratch store ${r.scratch}), ${r.chaos !== undefined ? `under chaos \`${r.chaos.spec}\` (seed ${r.chaos.seed}; repeat with \`--chaos-seed ${r.chaos.seed}\`)` : 'without chaos'}. Rehearsal seed ${r.seed}.`,
    '',
    `Outcome: ${r.ok ? 'every step passed' : 'NOT every step passed (see below): do not run the migration before this is understood'}. The copy was ${r.originalBack ? 'back byte for byte after the rollback (its export had the same sha256)' : 'NOT back byte for byte after the rollback'}.`,
    '',
    '## Measured',
    '',
    '| step | status | time in the rehearsal | rate | extrapolated to the full collection | what happened |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.steps.map((s) => stepRow(r, s)),
    '',
    'Extrapolation is linear (documents in the collection / documents in the copy); the real store, its load and the rate limit decide the rest.',
    ...(r.backfill !== undefined
      ? [
          '',
          `The backfill was ${r.backfill.killedAtDone !== undefined ? `killed with SIGKILL at ${r.backfill.killedAtDone} documents done (the kill point drawn was ${r.backfill.killAt}) and run again: it resumed from its checkpoints` : `not killed: it finished before the kill point (${r.backfill.killAt} documents)`}. Runs: ${r.backfill.runs.map((x) => `${duration(x.ms)} (${x.code === null ? 'killed' : `exit ${x.code}`})`).join(', ')}.`,
        ]
      : []),
    ...(r.chaos !== undefined
      ? [
          '',
          `Faults injected by the rehearsal's verify and rollback: ${r.chaos.injected.failures} errors, ${r.chaos.injected.throttled} throttled, ${r.chaos.injected.timeouts} timeouts, ${r.chaos.injected.outages} outage failures, ${r.chaos.injected.lostAcks} lost acknowledgements in ${r.chaos.injected.calls} calls (the backfill's own are on its stderr and in the scratch audit log).`,
        ]
      : []),
    '',
    '## Thresholds in force',
    '',
    `- Backfill guards: ${guards}.`,
    `- Contingency thresholds (the config's \`thresholds\`, docs/guides/thresholds.md): ${
      c.thresholds !== undefined && c.thresholds.length > 0
        ? c.thresholds.map((t) => `\`${describeThreshold(t)}\``).join('; ')
        : 'none'
    }.`,
    `- Batch size ${c.batchSize}; a store call is retried ${c.maxStoreRetries} times with back-off (exit 3 after that: run the same command again to resume).`,
    `- A worker that dies: its partitions are taken over at once on the same host, after ${duration(c.leaseTtlMs)} (the lease TTL) elsewhere.`,
    `- Approvals: ${c.approvals ?? 'none required by the config'}.`,
    '',
    '## Run it',
    '',
    '```sh',
    `${sy} backfill ${m.id} --batch-size ${c.batchSize}${c.backfillFlags.length > 0 ? ` ${c.backfillFlags.join(' ')}` : ''} --reason "..."`,
    `${sy} verify ${m.id} --full`,
    '```',
    '',
    `Expected: backfill ${measured('backfill')}; verify ${measured('verify')}.`,
    '',
    '## Pause',
    '',
    'Every worker stops after its current batch and keeps its leases; nothing is lost.',
    '',
    '```sh',
    `${sy} pause ${m.id} --reason "..."`,
    `${sy} resume ${m.id} --reason "..."`,
    '```',
    '',
    '## Throttle',
    '',
    `The rehearsal backfilled at ${bfRate !== undefined ? `${bfRate.toLocaleString('en-US')} documents a second` : 'an unmeasured rate'}; halve it when the store struggles (every worker reads the new rate before its next batch):`,
    '',
    '```sh',
    `${sy} throttle ${m.id} --rate ${bfRate !== undefined ? Math.max(1, Math.floor(bfRate / 2)) : 100} --reason "..."`,
    '```',
    '',
    '## Roll back',
    '',
    `Restores every changed document from the undo journal (keeping what the application wrote since). Expected: ${measured('rollback')}.`,
    '',
    '```sh',
    `${sy} rollback ${m.id} --reason "..."`,
    `${sy} status`,
    '```',
    '',
    '## Step back a cut-over',
    '',
    `This migration is in place: there is no cut-over to step back; the rollback above is the way back (its readers see the old version again document by document as it runs). For a side-by-side migration \`${sy} rollback <id>\` steps the stage back one step (live -> shadow -> dual-write -> off).`,
    '',
  ];
  return lines.join('\n');
}
