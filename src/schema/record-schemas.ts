/**
 * Recording a migration's schemas in the registry when it runs (the backfill calls this once,
 * where it registers the migration in the catalog): the schema of its `from` version inferred
 * from documents still at `from`, the schema of its `to` version predicted from that by the
 * operations' declared effects (apply-effects.ts; nothing of the user's code runs here, so a
 * migration with a custom `up()` gets no prediction: its `to` is inferred when the next
 * migration starts, and `check` samples it), and its `verify.schema` as the declared schema of
 * `to`.
 *
 * Bounded: one spread sample (sample-spread.ts), a few small reads, and nothing at all when the
 * registry already holds both versions (a resumed or repeated backfill). Slots already recorded
 * are kept. Store calls go through the caller's `retry` (the backfill's, so a transient fault
 * here is retried and reported like any other). It never fails the backfill: the registry is
 * advisory, and a store that keeps failing fails the backfill's own next call anyway.
 */
import type { Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';
import { predictSchema } from './apply-effects.js';
import type { CollectionSchema } from './collection-schema.js';
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

/** Runs a store call, retrying it through transient failures. */
export type Retry = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export async function recordMigrationSchemas(
  ctx: RecordContext,
  migration: Migration,
  retry: Retry = (_what, fn) => fn(),
): Promise<RecordedSchemas> {
  try {
    return await record(ctx, migration, retry);
  } catch {
    return { written: [] };
  }
}

async function record(ctx: RecordContext, m: Migration, retry: Retry): Promise<RecordedSchemas> {
  const registry = new SchemaRegistry(ctx.stateStore);
  const before = await retry('schema registry', () => registry.get(m.collection, m.from));
  const after = await retry('schema registry', () => registry.get(m.collection, m.to));
  const written: string[] = [];
  const opts = { actor: ctx.actor, migration: m.id };
  const put = async (
    version: number,
    slot: SchemaSlot,
    value: Parameters<SchemaRegistry['record']>[3],
  ): Promise<void> => {
    if (
      await retry('schema registry', () =>
        registry.record(m.collection, version, slot, value, opts),
      )
    )
      written.push(`${m.collection}@v${version}:${slot}`);
  };
  if (m.afterSchema !== undefined && after?.declared === undefined)
    await put(m.to, SchemaSlot.declared, m.afterSchema);
  if (before?.inferred !== undefined && after?.predicted !== undefined) return { written };
  const docs = (
    await sampleSpread(ctx.store.collection(m.collection), RECORD_SAMPLE, undefined, retry)
  ).filter((d) => m.versionOf(d) === m.from);
  const inferred = docs.length > 0 ? buildSchema(docs, m) : (before?.inferred ?? undefined);
  if (inferred === undefined) return { written };
  if (before?.inferred === undefined && docs.length > 0)
    await put(m.from, SchemaSlot.inferred, inferred);
  if (after?.predicted === undefined && !m.hasCustomUp)
    await put(m.to, SchemaSlot.predicted, predictSchema(inferred, m.operations, m.to).schema);
  return { written };
}

function buildSchema(docs: readonly Doc[], m: Migration): CollectionSchema {
  const b = new SchemaBuilder([m.versionField]);
  for (const d of docs) b.add(d);
  return b.build(m.collection, m.from);
}
