import { collisionText } from '../../migration/unique-fields.js';
import type { UniqueCheck } from '../../engine/unique-check.js';
import fs from 'node:fs';
import {
  DEFAULT_VERIFY_BATCH_SIZE,
  DEFAULT_VERIFY_MAX_SAMPLES,
  DEFAULT_VERIFY_PARTITIONS,
  verify,
  type VerifyReport,
} from '../../engine/verify.js';
import {
  DEFAULT_RECHECKS,
  verifySideBySide,
  type SideBySideVerifyReport,
} from '../../engine/verify-side-by-side.js';
import { thresholdsFor } from '../../engine/runner/thresholds.js';
import { CHAOS_OPTIONS, chaosFrom, reportChaos, type ChaosCliOptions } from '../chaos-options.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { formatValue } from '../format-value.js';
import { existingMigration, withProject } from '../open-project.js';
import { withInterrupt } from '../interrupt.js';
import { jobDisplay, progressLine, verifySidesText } from '../job-events.js';
import { workerOptionSpecs, workerOptionsFrom, type WorkerCliOptions } from '../worker-options.js';
import { MigrationNotStartedError, notStarted } from '../../state/catalog.js';
import { thresholdAlert, verifyAlert } from '../../observe/job-alerts.js';
import type { RunnerEvent } from '../../engine/runner/job.js';
import { alertWebhookOption, openCommandAlerts, type AlertCliOptions } from '../alert-options.js';

interface VerifyCliOptions extends AlertCliOptions, WorkerCliOptions, ChaosCliOptions {
  sample?: number;
  full?: boolean;
  maxSamples: number;
  report?: string;
  seed?: number;
  rechecks: number;
}

export const verifyCommand = defineCommand<VerifyCliOptions>({
  spec: {
    name: 'verify',
    summary: 'prove the stored documents are what the migration should have produced',
    details: [
      'For each stored document (all with --full, the default; a uniform sample with --sample N): a journalled document must still be what the migration wrote, or the report shows how it differs from up(before-image), path by path, with both values; a document without a journal entry must be at the target version; every migrated document must pass the invariants and the after-schema. A full run also finds journalled documents that are missing. Per-partition hashes of expected and actual content name the divergent ranges.',
      "A side-by-side migration (one with a target) is verified across the two collections, on different stores too: the target must hold up(source) for every key and nothing else. Each side is scanned once into per-bucket counts and digests (buckets by a hash of the key, so the stores' key orders and partitions do not matter); only buckets that differ are looked into, naming every key that is missing in the target, extra in the target, different (path by path) or whose up() fails. The application may keep writing: each difference is read again on both sides (--rechecks times, with a short growing delay) and only those that persist are reported; the others are counted as settled. The target documents must also be at the target version and pass the invariants and the after-schema.",
      'A merge (`merge`: a second source joined by key) is verified as up(source, its secondary documents as read now) per key; a full verify also counts the secondary documents without a source document of the same key as orphans (they yield no target document: not drift), naming some as <collection>/<key>.',
      'A step of a chain that a later applied step of the same collection supersedes (1->2 after 2->3 ran) is checked for what still holds: a document older than the step is drift; one at a later version was moved on by the later step and is counted as "at a later version" (never "still at the old version"), not compared with this step\'s up(). The report names the superseding steps. Documents at the step\'s own version are checked as usual.',
      "A full verify is a job like a backfill: partitioned (--partitions), shared by several processes on one or many machines (run the same command in each, with --worker-id), a dead worker's partitions taken over, throttled (--rate, switchyard throttle --job verify), paused (switchyard pause --job verify), with progress and ETA. Killed (or Ctrl-C), run again, it resumes from its checkpoints, and the report is the one an uninterrupted run gives; a finished verify is started afresh by the next one. A --sample run is one quick pass in this process.",
      "The config's contingency thresholds (those without `job`, or with `job: 'verify'`) are checked after every batch, alert only (docs/guides/thresholds.md): a threshold for job verify with another action is refused when the config is loaded. An in-place verify publishes verifyMismatches (mismatched, missing, still at the old version) as it goes.",
      'Exit 0 when everything matches (a backfilled migration becomes verified), 1 when anything differs (or the verify was stopped before the end: nothing is proven yet), 2 when the migration has not started (nothing to verify). With --quiet nothing is printed on success; drift is still reported.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      { flags: '--full', description: 'check every document (the default)' },
      {
        flags: '--sample <n>',
        description: 'check a uniform random sample of n documents instead',
        positiveInt: true,
      },
      {
        flags: '--max-samples <n>',
        description: 'examples kept per kind of problem',
        defaultValue: DEFAULT_VERIFY_MAX_SAMPLES,
        positiveInt: true,
      },
      { flags: '--report <file>', description: 'also write the full report as JSON to this file' },
      { flags: '--seed <n>', description: 'seed the sample, to repeat it', positiveInt: true },
      {
        flags: '--rechecks <n>',
        description:
          'side by side: how many times a difference is read again on both sides before it is reported',
        defaultValue: DEFAULT_RECHECKS,
        positiveInt: true,
      },
      ...workerOptionSpecs('verify', {
        batchSize: DEFAULT_VERIFY_BATCH_SIZE,
        concurrency: '1 in place (the checks are CPU-bound), 4 side by side',
        partitions: `${DEFAULT_VERIFY_PARTITIONS} in place; side by side 1 per side (both read at once)`,
      }),
      ...CHAOS_OPTIONS,
      alertWebhookOption('verify finds drift'),
    ],
    examples: [
      { command: 'switchyard verify 20261120-split-name --full' },
      { command: 'switchyard verify split-name --sample 10000 --json' },
      {
        command: 'switchyard verify split-name --worker-id w1 --partitions 64',
        comment: 'run the same on other machines (w2, w3, ...) to share the verify',
      },
      {
        command: 'switchyard verify users-v2 --report verify.json',
        comment: 'a side-by-side migration: source and target compared',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    const chaos = chaosFrom(ctx, options);
    const alerts = openCommandAlerts(ctx, 'verify', options);
    let migrationId: string | undefined;
    const { bar, onEvent } = jobDisplay(
      ctx,
      'verify',
      (p) => `verify ${progressLine(p, verifySidesText(p), ' items')}`,
      {
        jsonLines: false,
      },
    );
    let stopped: AbortSignal | undefined;
    const report = await withInterrupt((signal) => {
      stopped = signal;
      return withProject(
        ctx,
        async (project) => {
          const migration = await existingMigration(project, id!);
          migrationId = migration.id;
          if (notStarted(await project.catalog.get(migration.id), migration.kind))
            throw new MigrationNotStartedError(
              migration.kind === 'in-place'
                ? `migration ${migration.id} has not started: there is nothing to verify yet. Run 'switchyard backfill ${migration.id}' first`
                : `migration ${migration.id} has not started: there is nothing to verify yet. Start dual writes ('switchyard stage ${migration.id} dual-write'), then 'switchyard backfill ${migration.id}'`,
              { field: 'id' },
            );
          const common = {
            ...workerOptionsFrom(options, signal),
            ...(options.sample !== undefined && options.full !== true
              ? { sample: options.sample }
              : {}),
            maxSamples: options.maxSamples,
            // a verify only alerts (config-schema.ts refuses other actions for job verify; those
            // of thresholds without `job` are not applied to it)
            thresholds: thresholdsFor(project.policy.thresholds, migration.id, 'verify').filter(
              (t) => t.action === 'alert',
            ),
            ...(options.seed !== undefined ? { seed: options.seed } : {}),
            onEvent: (e: RunnerEvent) => {
              onEvent(e);
              if (e.type === 'threshold') alerts.send(thresholdAlert(migration.id, e));
            },
          };
          await project.recordChaos(migration.id, 'verify');
          return (
            migration.kind === 'side-by-side'
              ? verifySideBySide(project, migration, {
                  ...common,
                  rechecks: options.rechecks,
                  baseDir: ctx.io.cwd,
                })
              : verify(project, migration, common)
          ).finally(() => reportChaos(ctx, project));
        },
        { chaos },
      );
    }).catch(async (err: unknown) => {
      bar.done();
      if (stopped?.aborted === true) return undefined;
      alerts.failed(err, 'verify', migrationId ?? id ?? null);
      await alerts.close();
      throw err;
    });
    bar.done();
    if (report === undefined) {
      await alerts.close();
      ctx.info(
        'verify stopped before the end: nothing is proven yet; run verify again to resume from its checkpoints',
      );
      return 1;
    }
    alerts.send(verifyAlert(report));
    await alerts.close();
    if (options.report !== undefined)
      fs.writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
    if (ctx.json) ctx.outJson(report);
    // --quiet: nothing on success; drift is the answer to the question, so it is still shown
    else if (!ctx.quiet || !report.ok) printReport(ctx, report);
    return report.ok ? 0 : 1;
  },
});

export function printReport(ctx: CliContext, r: VerifyReport): void {
  if (isSideBySide(r)) return printSideBySide(ctx, r);
  ctx.out(
    `verify ${r.migration} (${r.mode}, ${r.elapsedSeconds}s): ${r.ok ? ((r.lookupChanged ?? 0) > 0 ? 'OK — every document is what the migration computed from the documents it looked up' : 'OK — every document is what the migration should have produced') : 'DRIFT FOUND'}`,
  );
  ctx.out(
    `  compared ${r.compared}, matched ${r.matched}, mismatched ${r.mismatched}, missing ${r.missing}, extra ${r.extra}, still at the old version ${r.oldVersion}, left as they are (onInvalid 'skip') ${r.leftAsIs}, at a later version ${r.newer}, invariant failures ${r.invariantFailures}, schema failures ${r.schemaFailures}${(r.unreadable ?? 0) > 0 ? `, unreadable ${r.unreadable}` : ''}${(r.lookupChanged ?? 0) > 0 ? `, looked-up document changed since the backfill ${r.lookupChanged}` : ''}${(r.emitted ?? 0) > 0 ? `, emitted documents checked ${r.emitted} (missing and mismatched ones named <collection>/<key>)` : ''}`,
  );
  printUnique(ctx, r.unique);
  if (r.canary !== undefined)
    ctx.out(
      `  canary: checked the ${r.canary.documents.toLocaleString('en-US')} documents the canary migrated (its journal's keys) of ${r.canary.of.toLocaleString('en-US')}; the others are not migrated yet and are not drift${r.canary.sampleIgnored === true ? ' (--sample ignored: a canary is checked whole)' : ''}`,
    );
  if ((r.lookupChanged ?? 0) > 0)
    ctx.out(
      `  ${r.lookupChanged} documents were computed from a looked-up document that has changed since (not drift: the backfill used the value it read; Switchyard does not re-run them)`,
    );
  for (const l of r.samples.lookupChanged ?? []) {
    ctx.out(`  ${l.key}: ${l.lookups.join(', ')} changed since the backfill`);
    for (const d of l.diffs)
      ctx.out(
        `    ${d.path || '/'}: up() with it now gives ${formatValue(d.expected)}, stored ${formatValue(d.actual)}`,
      );
  }
  if (r.superseded !== undefined)
    ctx.out(
      `  superseded by ${r.superseded.join(', ')}: documents at a later version were moved on by it and are not compared with this step's up() (a document older than this step still is drift)`,
    );
  const paths = Object.entries(r.paths).sort((a, b) => b[1] - a[1]);
  if (paths.length > 0)
    ctx.out(`  mismatches by path: ${paths.map(([p, n]) => `${p} (${n})`).join(', ')}`);
  for (const m of r.samples.mismatched) {
    ctx.out(`  ${m.key}: differs`);
    for (const d of m.diffs)
      ctx.out(
        `    ${d.path || '/'}: expected ${formatValue(d.expected)}, found ${formatValue(d.actual)}`,
      );
  }
  for (const k of r.samples.missing)
    ctx.out(`  ${k}: missing (the migration wrote it; it is gone)`);
  for (const o of r.samples.oldVersion) ctx.out(`  ${o.key}: still at version ${o.version}`);
  for (const c of r.samples.checks) ctx.out(`  ${c.key}: ${c.failures.join('; ')}`);
  if (r.ranges.divergent.length > 0)
    ctx.out(
      `  divergent ranges: ${r.ranges.divergent.map((d) => `#${d.id} (${d.mismatched})`).join(', ')} of ${r.ranges.total}`,
    );
}

/** The unique check: what was checked (and where it comes from), what was found. */
function printUnique(ctx: CliContext, u: UniqueCheck | undefined, where = ''): void {
  if (u === undefined) return;
  const among =
    u.sample === true
      ? `the ${u.documents} sampled documents (a sample: only collisions within it)`
      : `${u.documents} documents`;
  if (u.fields.length > 0) {
    const fields = u.fields.map((f, i) => `${f} [${u.sources?.[i] ?? 'declared'}]`).join(', ');
    ctx.out(
      u.collisions === 0
        ? `  ${where}unique fields (${fields}): no value shared among ${among}`
        : `  ${where.toUpperCase()}UNIQUE FIELDS (${fields}): ${u.collisions} value${u.collisions === 1 ? '' : 's'} shared by several of ${among}:`,
    );
  }
  for (const c of u.samples) ctx.out(`    ${collisionText(c)}`);
  for (const k of u.keptByStore ?? [])
    ctx.out(`  ${where}unique ${k.name}: kept unique by the store itself (${k.source})`);
  for (const n of u.notUnique ?? []) ctx.out(`  ${where}not a unique constraint: ${n}`);
}

function isSideBySide(r: VerifyReport): r is SideBySideVerifyReport {
  return (r as Partial<SideBySideVerifyReport>).kind === 'side-by-side';
}

function printSideBySide(ctx: CliContext, r: SideBySideVerifyReport): void {
  if (r.targets !== undefined) {
    // a split: one line for the whole, then each target's report as for one target
    ctx.out(
      `verify ${r.migration} (split side by side into ${r.targets.length} targets: ${r.targets.map((t) => t.target.collection).join(', ')}): ${r.ok ? 'OK — every target holds its up(source) for every key, and nothing else' : 'DRIFT FOUND'}`,
    );
    for (const t of r.targets) printSideBySide(ctx, t);
    return;
  }
  ctx.out(
    `verify ${r.migration} (side by side, stage ${r.stage}: ${r.source.collection} -> ${r.target.collection} on ${r.target.store}, ${r.mode}, ${r.elapsedSeconds}s): ${r.ok ? 'OK — the target holds up(source) for every key, and nothing else' : 'DRIFT FOUND'}`,
  );
  ctx.out(
    `  compared ${r.compared} (source ${r.sourceDocs}, target ${r.targetDocs}), matched ${r.matched}, mismatched ${r.mismatched}, missing in the target ${r.missing}, extra in the target ${r.extra}, up() failed ${r.transformErrors}, not at the target version ${r.oldVersion}, invariant failures ${r.invariantFailures}, schema failures ${r.schemaFailures}${(r.unreadable ?? 0) > 0 ? `, unreadable ${r.unreadable}` : ''}`,
  );
  if (r.settled > 0)
    ctx.out(`  settled: ${r.settled} differences went away when read again (writes landing)`);
  if (r.orphans !== undefined)
    ctx.out(
      `  orphans: ${r.orphans} documents of the merged collections without a ${r.source.collection} document of the same key (no target document, by design; not drift)${r.samples.orphans?.length ? `: ${r.samples.orphans.join(', ')}` : ''}`,
    );
  printUnique(ctx, r.unique, 'target ');
  const paths = Object.entries(r.paths).sort((a, b) => b[1] - a[1]);
  if (paths.length > 0)
    ctx.out(`  mismatches by path: ${paths.map(([p, n]) => `${p} (${n})`).join(', ')}`);
  for (const m of r.samples.mismatched) {
    ctx.out(`  ${m.key}: differs from up(source)`);
    for (const d of m.diffs)
      ctx.out(
        `    ${d.path || '/'}: expected ${formatValue(d.expected)}, found ${formatValue(d.actual)}`,
      );
  }
  for (const k of r.samples.missing) ctx.out(`  ${k}: missing in the target`);
  for (const k of r.samples.extra) ctx.out(`  ${k}: extra in the target (no source document)`);
  for (const t of r.samples.transformErrors) ctx.out(`  ${t.key}: up() failed: ${t.error}`);
  for (const o of r.samples.oldVersion)
    ctx.out(`  ${o.key}: the target document is at version ${o.version}`);
  for (const c of r.samples.checks) ctx.out(`  ${c.key}: ${c.failures.join('; ')}`);
  if (r.ranges.divergentTotal > 0)
    ctx.out(
      `  buckets: ${r.ranges.divergentTotal} of ${r.ranges.total} differed, ${r.ranges.drilled} documents looked up`,
    );
}
