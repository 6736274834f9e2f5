/**
 * Recording a migration's schemas in the registry when it runs (the backfill calls this once,
 * where it registers the migration in the catalog): the schema of its `from` version inferred
 * from documents still at `from`, the schema of its `to` version predicted by running `up()` on
 * those same documents, and its `verify.schema` as the declared schema of `to`.
 *
 * Bounded: one spread sample (sample-spread.ts), a few small reads, and nothing at all when the
 * registry already holds both versions (a resumed or repeated backfill). Slots already recorded
 * are kept. It never fails the backfill: the registry is advisory, and a store that fails here
 * fails the backfill's own next call anyway.
 */
import type { Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';
import { SchemaBuilder } from './infer-schema.js';
import { SchemaRegistry, SchemaSlot } from './registry.js';
import { sampleSpread } from './sample-spread.js';

export const RECORD_SAMPLE = 256;

export interface RecordContext {
  readonly store: Store;
  readonly stateStore: Store;
  readonly actor: string;
}

export interface RecordedSchemas {
  /** slots written, as `collection@vN:slot` */
  readonly written: readonly string[];
}

export async function recordMigrationSchemas(
  ctx: RecordContext,
  migration: Migration,
): Promise<RecordedSchemas> {
  try {
    return await record(ctx, migration);
  } catch {
    return { written: [] };
  }
}

async function record(ctx: RecordContext, m: Migration): Promise<RecordedSchemas> {
  const registry = new SchemaRegistry(ctx.stateStore);
  const [before, after] = await Promise.all([
    registry.get(m.collection, m.from),
    registry.get(m.collection, m.to),
  ]);
  const written: string[] = [];
  const opts = { actor: ctx.actor, migration: m.id };
  const put = async (
    version: number,
    slot: SchemaSlot,
    value: Parameters<SchemaRegistry['record']>[3],
  ): Promise<void> => {
    if (await registry.record(m.collection, version, slot, value, opts))
      written.push(`${m.collection}@v${version}:${slot}`);
  };
  if (m.afterSchema !== undefined && after?.declared === undefined)
    await put(m.to, SchemaSlot.declared, m.afterSchema);
  if (before?.inferred !== undefined && after?.predicted !== undefined) return { written };
  const docs = (await sampleSpread(ctx.store.collection(m.collection), RECORD_SAMPLE)).filter(
    (d) => m.versionOf(d) === m.from,
  );
  if (docs.length === 0) return { written };
  const from = new SchemaBuilder([m.versionField]);
  const to = new SchemaBuilder([m.versionField]);
  for (const doc of docs) {
    from.add(doc);
    let out: Doc;
    try {
      out = m.up(doc);
    } catch {
      continue; // plan and the backfill's dead letters report these
    }
    to.add(out);
  }
  if (before?.inferred === undefined)
    await put(m.from, SchemaSlot.inferred, from.build(m.collection, m.from));
  if (after?.predicted === undefined && to.documents > 0)
    await put(m.to, SchemaSlot.predicted, {
      ...to.build(m.collection, m.to),
      source: 'predicted',
    });
  return { written };
}
