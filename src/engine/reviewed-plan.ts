/**
 * Reviewed plans: `plan --out plan.json` writes what a reviewer signs off, and `backfill --plan
 * plan.json` runs only what was reviewed (like a saved Terraform plan).
 *
 * The file (format `switchyard.plan`, version 1; zod-checked when read) holds the migration's
 * identity and its SHA-256 (the catalog's checksum), the sample's size and seed, the schema of the
 * documents at `from` inferred from that sample (paths and types), the compatibility verdict,
 * the plan report (counts, sample diffs, lossy steps, capacity) and the estimates.
 *
 * Rules for `backfill --plan` (checkReviewedPlan), before anything is written (exit 2):
 * - a plan for another migration is refused, naming both;
 * - a migration file that changed since (another checksum) is refused;
 * - the data's schema is sampled again (same size and seed) and compared with the plan's: a
 *   field that appeared or disappeared, or a field whose types changed, is refused, naming the
 *   fields. Presence ratios and examples are not compared (a sample of live data moves);
 *   with no document left at `from` (a resumed backfill near its end) there is nothing to compare.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { InputError, errorMessage } from '../core/errors.js';
import { parseInput } from '../core/input-schema.js';
import type { Migration } from '../migration/migration.js';
import type { MigrationCheck } from '../schema/check-migrations.js';
import { SchemaBuilder, versionOfDoc } from '../schema/infer-schema.js';
import type { Store } from '../store/contract.js';
import type { PlanReport } from './plan.js';
import { sampleCollection } from './sample.js';

export const PLAN_FILE_FORMAT = 'switchyard.plan';
export const PLAN_FILE_VERSION = 1;

/** A reviewed plan that does not match what would run now. Nothing was changed. */
export class PlanMismatchError extends InputError {
  override readonly code = 'E_PLAN_MISMATCH';
}

const fieldTypes = z.object({ path: z.string(), types: z.array(z.string()) }).strict();

export const planFileSchema = z
  .object({
    format: z.literal(PLAN_FILE_FORMAT, { error: `format must be '${PLAN_FILE_FORMAT}'` }),
    version: z.literal(PLAN_FILE_VERSION, {
      error: `version must be ${PLAN_FILE_VERSION} (this Switchyard reads plan files of version ${PLAN_FILE_VERSION})`,
    }),
    createdAt: z.string(),
    createdBy: z.string(),
    migration: z
      .object({
        id: z.string().min(1),
        checksum: z.string().regex(/^[0-9a-f]{64}$/, 'checksum must be a SHA-256 in hex'),
        collection: z.string(),
        from: z.number().int(),
        to: z.number().int(),
        kind: z.enum(['in-place', 'side-by-side']),
      })
      .strict(),
    sample: z
      .object({ size: z.number().int().positive(), seed: z.number().int().optional() })
      .strict(),
    /** the documents at `from` in the sample: their fields and types */
    schema: z.object({ sampled: z.number().int(), fields: z.array(fieldTypes) }).strict(),
    compatibility: z.record(z.string(), z.unknown()).optional(),
    estimates: z.record(z.string(), z.unknown()),
    report: z.record(z.string(), z.unknown()),
  })
  .strict();

export type PlanFile = z.infer<typeof planFileSchema>;
type Fields = PlanFile['schema'];

/** The fields and types of the documents at the migration's `from` among a sample. */
export async function sampleFromSchema(
  store: Store,
  m: Migration,
  sample: { size: number; seed?: number },
): Promise<Fields> {
  const { sample: docs } = await sampleCollection(store.collection(m.collection), sample);
  const b = new SchemaBuilder([m.versionField]);
  for (const { doc } of docs)
    if (versionOfDoc(doc, m.versionField, m.baseVersion) === m.from) b.add(doc);
  const schema = b.build(m.collection, m.from);
  return {
    sampled: b.documents,
    fields: schema.paths.map((p) => ({ path: p.path, types: [...p.types] })),
  };
}

export function buildPlanFile(input: {
  migration: Migration;
  report: PlanReport;
  schema: Fields;
  compatibility: MigrationCheck | undefined;
  sample: { size: number; seed?: number };
  actor: string;
}): PlanFile {
  const { migration: m, report: r } = input;
  const share = r.sampled > 0 ? r.changed / r.sampled : 0;
  return {
    format: PLAN_FILE_FORMAT,
    version: PLAN_FILE_VERSION,
    createdAt: new Date().toISOString(),
    createdBy: input.actor,
    migration: {
      id: m.id,
      checksum: m.checksum,
      collection: m.collection,
      from: m.from,
      to: m.to,
      kind: m.kind,
    },
    sample: input.sample,
    schema: input.schema,
    ...(input.compatibility !== undefined
      ? {
          compatibility: {
            mode: input.compatibility.mode,
            class: input.compatibility.class,
            ok: input.compatibility.ok,
            findings: input.compatibility.findings,
            changes: input.compatibility.changes,
          },
        }
      : {}),
    estimates: {
      documents: r.total,
      /** documents a backfill would change, from the sample's share */
      toChange: Math.round(share * r.total),
      toFail: r.sampled > 0 ? Math.round((r.failed / r.sampled) * r.total) : 0,
      ...(r.capacity !== undefined ? { capacity: r.capacity } : {}),
    },
    report: JSON.parse(JSON.stringify(r)) as Record<string, unknown>,
  };
}

/** Read and check a plan file (exit 2 naming the file and field when it is not one). */
export function readPlanFile(file: string): PlanFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read the plan file: ${errorMessage(err)}`, { file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(`the plan file is not JSON: ${errorMessage(err)}`, { file });
  }
  return parseInput(planFileSchema, raw, { file, prefix: 'invalid plan file: ' });
}

/**
 * Refuse to run `m` under `plan` when the plan is for another migration, the file changed since,
 * or the data's schema at `from` changed since (what changed is named).
 */
export async function checkReviewedPlan(
  store: Store,
  m: Migration,
  plan: PlanFile,
  file: string,
): Promise<void> {
  const where = { file };
  if (plan.migration.id !== m.id)
    throw new PlanMismatchError(
      `the plan is for migration ${plan.migration.id}, not ${m.id}: run switchyard plan ${m.id} --out <file> and have it reviewed`,
      { ...where, field: 'migration.id' },
    );
  if (plan.migration.checksum !== m.checksum)
    throw new PlanMismatchError(
      `the migration file changed since the plan was made (sha256 ${plan.migration.checksum.slice(0, 12)} then, ${m.checksum.slice(0, 12)} now${m.file !== undefined ? `: ${m.file}` : ''}): make a new plan and have it reviewed`,
      { ...where, field: 'migration.checksum' },
    );
  const now = await sampleFromSchema(store, m, plan.sample);
  if (now.sampled === 0) return;
  const changes = schemaChanges(plan.schema, now);
  if (changes.length > 0)
    throw new PlanMismatchError(
      `the data of ${m.collection} at v${m.from} changed since the plan was made (a sample of ${now.sampled}): ${changes.slice(0, 10).join('; ')}${changes.length > 10 ? `; and ${changes.length - 10} more` : ''}. Make a new plan and have it reviewed`,
      { ...where, field: 'schema' },
    );
}

/** What differs between two samples' fields and types, one line per field. */
export function schemaChanges(then: Fields, now: Fields): string[] {
  const before = new Map(then.fields.map((f) => [f.path, f.types]));
  const after = new Map(now.fields.map((f) => [f.path, f.types]));
  const out: string[] = [];
  for (const [path, types] of after) {
    const was = before.get(path);
    if (was === undefined) out.push(`field '${path}' is new (${types.join(', ')})`);
    else if (was.join() !== types.join())
      out.push(`field '${path}' was ${was.join(', ')}, now ${types.join(', ')}`);
  }
  for (const path of before.keys())
    if (!after.has(path)) out.push(`field '${path}' is gone from the sample`);
  return out;
}
