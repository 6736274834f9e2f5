import fs from 'node:fs';
import { DEFAULT_VERIFY_MAX_SAMPLES, verify, type VerifyReport } from '../../engine/verify.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { formatValue } from '../format-value.js';
import { withProject } from '../open-project.js';
import { Progress } from '../progress.js';
import { formatSeconds } from './backfill.js';

interface VerifyCliOptions {
  sample?: number;
  full?: boolean;
  maxSamples: number;
  report?: string;
  seed?: number;
}

export const verifyCommand = defineCommand<VerifyCliOptions>({
  spec: {
    name: 'verify',
    summary: 'prove the stored documents are what the migration should have produced',
    details: [
      'For each stored document (all with --full, the default; a uniform sample with --sample N): a journalled document must still be what the migration wrote, or the report shows how it differs from up(before-image), path by path, with both values; a document without a journal entry must be at the target version; every migrated document must pass the invariants and the after-schema. A full run also finds journalled documents that are missing. Per-partition hashes of expected and actual content name the divergent ranges.',
      'Exit 0 when everything matches (a backfilled migration becomes verified), 1 when anything differs. A killed full verify, run again, resumes where it stopped.',
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
    ],
    examples: [
      { command: 'switchyard verify 20261120-split-name --full' },
      { command: 'switchyard verify split-name --sample 10000 --json' },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    const bar = new Progress(ctx.io.stderr, ctx.showProgress && !ctx.json);
    const report = await withProject(ctx, async (project) => {
      const migration = await project.migration(id!);
      return verify(project, migration, {
        ...(options.sample !== undefined && options.full !== true
          ? { sample: options.sample }
          : {}),
        maxSamples: options.maxSamples,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        onProgress: (p) =>
          bar.update(
            `verify ${p.done}/${p.total} ${p.rate}/s ETA ${p.etaSeconds === null ? '?' : formatSeconds(p.etaSeconds)}`,
          ),
      });
    });
    bar.done();
    if (options.report !== undefined)
      fs.writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
    if (ctx.json) ctx.outJson(report);
    else printReport(ctx, report);
    return report.ok ? 0 : 1;
  },
});

export function printReport(ctx: CliContext, r: VerifyReport): void {
  ctx.out(
    `verify ${r.migration} (${r.mode}, ${r.elapsedSeconds}s): ${r.ok ? 'OK — every document is what the migration should have produced' : 'DRIFT FOUND'}`,
  );
  ctx.out(
    `  compared ${r.compared}, matched ${r.matched}, mismatched ${r.mismatched}, missing ${r.missing}, extra ${r.extra}, still at the old version ${r.oldVersion}, invariant failures ${r.invariantFailures}, schema failures ${r.schemaFailures}`,
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
