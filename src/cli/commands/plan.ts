import { collisionText } from '../../migration/unique-fields.js';
import {
  plan,
  DEFAULT_PLAN_SAMPLE,
  DEFAULT_PLAN_SHOW,
  type PlanReport,
} from '../../engine/plan.js';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, InputError, UsageError } from '../../core/errors.js';
import { buildPlanFile, sampleFromSchema } from '../../engine/reviewed-plan.js';
import type { Migration } from '../../migration/migration.js';
import type { Project } from '../../project.js';
import { checkMigrations } from '../../schema/check-migrations.js';
import { projectSources } from './check.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { formatDiff } from '../format-value.js';
import { existingMigration, withProject } from '../open-project.js';

interface PlanOptions {
  sample: number;
  show: number;
  seed?: number;
  out?: string;
}

export const planCommand = defineCommand<PlanOptions>({
  spec: {
    name: 'plan',
    summary: 'dry run: what a migration would do to a sample, and whether it can be undone',
    details: [
      'Samples documents uniformly (one streaming pass), runs up() on each, and shows the diff; counts changed, unchanged (already migrated) and failed documents with their errors; runs the invariants and the after-schema on the results; proves the round trip down(up(d)) == d on the sample and names the operations that are lossy. Nothing is written: not the data, not the state.',
      "A document also fails when up() returns a value that cannot be stored (a function, a Map, a BigInt, a circular object, undefined in an array: named by key and path) or changes the field its key comes from (_id, a table's key attributes). up() runs twice on each document, a few milliseconds apart: results that differ (new ObjectId(), Date.now(), Math.random() in up()) are reported as non-deterministic.",
      "With `unique` fields declared in the migration, values that two or more of the sample's results share are reported with their keys (only within the sample: a full verify checks the whole collection).",
      'Exit 1 when a document fails, breaks a check, does not round-trip although the migration claims an exact inverse, up() is not deterministic, or results share a unique value.',
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      {
        flags: '--sample <n>',
        description: 'how many documents to sample',
        defaultValue: DEFAULT_PLAN_SAMPLE,
        positiveInt: true,
      },
      {
        flags: '--show <n>',
        description: 'how many documents to show in full (0: only the counts)',
        defaultValue: DEFAULT_PLAN_SHOW,
        wholeNumber: true,
      },
      {
        flags: '--seed <n>',
        description: 'seed the sample, to repeat a plan exactly',
        positiveInt: true,
      },
      {
        flags: '--out <file>',
        description:
          'write the reviewed-plan file: the migration and its SHA-256, the schema of the sampled data, the compatibility verdict, the report and the estimates (run it with backfill --plan)',
      },
    ],
    examples: [
      { command: 'switchyard plan 20261120-split-name --sample 500' },
      { command: 'switchyard plan split-name --json' },
      {
        command: 'switchyard plan split-name --sample 1000 --out plan.json',
        comment: 'for review',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    const report = await withProject(ctx, async (project) => {
      const migration = await existingMigration(project, id!);
      if (migration.isEmpty)
        throw new UsageError(`migration ${migration.id} has no operations and no up() yet`, {
          ...(migration.file ? { file: migration.file } : {}),
          field: 'operations',
        });
      const sampling = {
        size: options.sample,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      };
      const report = await plan(project.store, migration, {
        sample: options.sample,
        show: options.show,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      });
      if (options.out !== undefined)
        await writeReviewedPlan(
          project,
          migration,
          report,
          sampling,
          path.resolve(ctx.io.cwd, options.out),
        );
      return report;
    });
    if (ctx.json) ctx.outJson(report);
    else printPlan(ctx, report);
    return report.failed > 0 ||
      report.checkFailures > 0 ||
      report.nondeterministic > 0 ||
      report.roundTrip.differs > 0 ||
      report.roundTrip.failed > 0 ||
      (report.collisions?.length ?? 0) > 0
      ? 1
      : 0;
  },
});

/** `--out`: the reviewed-plan file (engine/reviewed-plan.ts). */
async function writeReviewedPlan(
  project: Project,
  migration: Migration,
  report: PlanReport,
  sample: { size: number; seed?: number },
  file: string,
): Promise<void> {
  const all = await project.migrations();
  const chain = all.filter(
    (x) => x.collection === migration.collection && x.from <= migration.from,
  );
  const checks = await checkMigrations(
    chain,
    { compatibility: project.policy.compatibility, collections: project.policy.collections },
    projectSources(project, all, undefined, {
      sample: sample.size,
      ...(sample.seed !== undefined ? { seed: sample.seed } : {}),
    }),
  );
  const planFile = buildPlanFile({
    migration,
    report,
    schema: await sampleFromSchema(project.store, migration, sample),
    compatibility: checks.migrations.find((c) => c.migration === migration.id),
    sample,
    actor: project.actor,
  });
  try {
    fs.writeFileSync(file, `${JSON.stringify(planFile, null, 2)}\n`);
  } catch (err) {
    throw new InputError(`cannot write the plan file: ${errorMessage(err)}`, {
      file,
      field: '--out',
    });
  }
}

function printPlan(ctx: CliContext, r: PlanReport): void {
  if (r.targets !== undefined) {
    // a split: every target's diffs, on the same sample
    const all = [r, ...r.targets];
    ctx.out(
      `plan ${r.migration}: split of ${r.collection} into ${all.map((t) => t.target).join(', ')} — one report per target, on the same sample`,
    );
    for (const t of all) printOne(ctx, t, ` -> ${t.target}`);
  } else printOne(ctx, r, '');
  ctx.out('  nothing was written.');
}

function printOne(ctx: CliContext, r: PlanReport, into: string): void {
  ctx.out(
    `plan ${r.migration}: ${r.collection}${into} v${r.from} -> v${r.to} (${r.kind}), sampled ${r.sampled} of ${r.total}`,
  );
  for (const l of r.lookups ?? [])
    ctx.out(
      `  looks up ${l.name}: the ${l.collection} document whose key is ${l.by} (read only) — in the sample ${l.found} found, ${l.notFound} not found, ${l.noKey} without a key`,
    );
  if (r.fanOut !== undefined)
    ctx.out(
      `  fans out ${r.fanOut.path} into ${r.fanOut.into} (${r.fanOut.parentField} = the parent's key) — in the sample ${r.fanOut.documents} documents from ${r.fanOut.parents} parents`,
    );
  for (const d of r.documents) {
    const mark = d.status === 'failed' ? 'FAILED' : d.status;
    ctx.out(
      `  ${d.key}: ${mark}${d.roundTrip && d.roundTrip !== 'exact' ? `, round trip ${d.roundTrip}` : ''}`,
    );
    if (d.error) ctx.out(`    error: ${d.error}`);
    if (d.nondeterministic)
      ctx.out(
        `    not deterministic: a second run of up() differs at ${d.nondeterministic.join(', ')}`,
      );
    for (const c of d.checks ?? []) ctx.out(`    check: ${c}`);
    if (d.diff) for (const line of formatDiff(d.diff.slice(0, 12))) ctx.out(line);
    for (const e of (d.emitted ?? []).slice(0, 5)) {
      ctx.out(`    + ${e.collection}/${e.key}:`);
      for (const line of formatDiff(e.diff.slice(0, 12))) ctx.out(`  ${line}`);
    }
    if ((d.emitted?.length ?? 0) > 5)
      ctx.out(`    + ${d.emitted!.length - 5} more emitted documents`);
  }
  ctx.out('');
  ctx.out(
    `  changed ${r.changed}, unchanged ${r.unchanged} (already at v${r.to}), failed ${r.failed}, failing checks ${r.checkFailures}`,
  );
  for (const [msg, n] of Object.entries(r.errors)) ctx.out(`  error x${n}: ${msg}`);
  if (r.nondeterministic > 0)
    ctx.out(
      `  NOT DETERMINISTIC: up() gave a different result when run again on ${r.nondeterministic} of ${r.changed} documents. Derive new values from the document (not new ObjectId(), Date.now() or Math.random()): a side-by-side verify could never pass, and every backfill rerun would rewrite them.`,
    );
  if (r.unique !== undefined) {
    if (r.unique.checked.length > 0)
      ctx.out(
        `  unique constraints checked: ${r.unique.checked.map((c) => `${c.name} (${c.source})`).join(', ')}`,
      );
    for (const n of r.unique.notUnique) ctx.out(`  not a unique constraint: ${n}`);
  }
  if (r.collisions !== undefined) {
    ctx.out(
      r.collisions.length === 0
        ? '  unique fields: no value shared in the sample'
        : `  UNIQUE FIELDS: ${r.collisions.length} value${r.collisions.length === 1 ? '' : 's'} shared in the sample (a full verify after the backfill checks the whole collection):`,
    );
    for (const c of r.collisions.slice(0, 20)) ctx.out(`    ${collisionText(c, 'would share')}`);
  }
  const paths = Object.entries(r.paths).sort((a, b) => b[1] - a[1]);
  if (paths.length) ctx.out(`  paths changed: ${paths.map(([p, n]) => `${p} (${n})`).join(', ')}`);
  if (r.lossy.length === 0) {
    ctx.out(
      `  reversible: ${r.reversible ? 'yes' : 'NO'} — round trip checked on ${r.roundTrip.checked}: ${r.roundTrip.exact} exact, ${r.roundTrip.differs} differ, ${r.roundTrip.failed} failed`,
    );
  } else {
    ctx.out(
      r.kind === 'in-place'
        ? '  reversible: no — lossy steps (rollback will use the undo journal):'
        : '  reversible: no — lossy steps (no rampdown, which writes the source with down(); rollback steps the stage back, the source is never written before rampdown):',
    );
    for (const l of r.lossy) ctx.out(`    ${l.step}: ${l.reason}`);
  }
  const c = r.capacity;
  if (c !== undefined) {
    const n = (x: number) => x.toLocaleString('en-US');
    ctx.out(
      `  capacity of a full backfill (estimated from the sample): ${n(c.readUnits)} read units, ${n(c.writeUnits)} write units${c.journalWriteUnits > 0 ? ` + ${n(c.journalWriteUnits)} for the undo journal (if it is kept in DynamoDB)` : ''}`,
    );
    ctx.out(
      c.billing === 'on-demand'
        ? `  on demand: about $${usd(c.costUsd!)} (${c.priceNote})`
        : `  provisioned (${c.billing.read} RCU, ${c.billing.write} WCU): the writes alone take ${c.secondsAtProvisioned ?? '?'} s at the whole write capacity; limit the backfill with --max-wcu`,
    );
  }
}

/** Dollars: cents from $1 up, two significant digits below (a small table costs fractions of a cent). */
function usd(x: number): string {
  return x >= 1 ? x.toFixed(2) : x.toLocaleString('en-US', { maximumSignificantDigits: 2 });
}
