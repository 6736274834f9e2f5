/**
 * drop-target: delete the target collection of a side-by-side migration that was rolled back to
 * `off` (or never left it), so a rollback leaves nothing behind when the operator says so.
 *
 * Rules:
 * - only while no read or write can go to the target: the stage is `off` and no copy backfill is
 *   running or paused (status backfilling / paused would write it again), or the migration is
 *   rolled back. Any other stage, a migration that never started, or an in-place migration is
 *   refused (E_DROP_TARGET_REFUSED, exit 2), audited, and nothing is changed;
 * - the decision is made inside a conditional catalog update that marks the entry
 *   (`targetDroppedAt`), so a stage change racing it either lands first (and the drop is
 *   refused) or finds the mark;
 * - the target is dropped on its own store when the migration names one (its URL is redacted in
 *   the audit log), else on the migration's store; the target's partitions of an earlier copy
 *   stay in the state store (a new backfill starts afresh);
 * - audited: who, why, the collection and how many documents it held.
 */
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { redactUrl } from '../store/store-url.js';
import type { EngineContext } from './context.js';
import { sideBySideState, Stage } from './stages.js';
import { openTargetStore } from './target-store.js';

export class DropTargetRefusedError extends InputError {
  override readonly code = 'E_DROP_TARGET_REFUSED';
}

export interface DropTargetResult {
  migration: string;
  collection: string;
  /** the target's store, redacted; absent: the migration's own store */
  store?: string;
  /** documents the target held when it was dropped */
  documents: number;
  /** a split (`targets`): every target dropped, the first being `collection` above */
  targets?: { collection: string; documents: number }[];
}

/** Why the target of this entry may not be dropped now (undefined: it may). */
function refusal(m: Migration, e: CatalogEntry | null): string | undefined {
  if (m.kind !== 'side-by-side' || m.target === undefined)
    return `migration ${m.id} is in place: it has no target collection to drop`;
  if (e === null) return `migration ${m.id} has not started: it has no target to drop`;
  if (e.status === MigrationStatus.rolledBack) return undefined;
  const { stage } = sideBySideState(e);
  if (stage !== Stage.off)
    return `migration ${m.id} is at stage ${stage}: the application may still read or write ${m.target.collection}. Roll back to off first (switchyard rollback ${m.id})`;
  if (e.status === MigrationStatus.backfilling || e.status === MigrationStatus.paused)
    return `migration ${m.id} is ${e.status}: its copy backfill writes ${m.target.collection}. Stop it (switchyard rollback ${m.id}) first`;
  return undefined;
}

export async function dropTarget(
  ctx: EngineContext,
  m: Migration,
  options: { reason?: string; baseDir?: string } = {},
): Promise<DropTargetResult> {
  const why = options.reason !== undefined ? { reason: options.reason } : {};
  let refused = refusal(m, await ctx.catalog.get(m.id));
  if (refused === undefined)
    await ctx.catalog.update(m.id, (e) => {
      refused = refusal(m, e);
      return refused !== undefined ? e : { ...e, targetDroppedAt: new Date().toISOString() };
    });
  if (refused !== undefined) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'drop-target',
      migration: m.id,
      ...why,
      outcome: `refused: ${refused}`,
    });
    throw new DropTargetRefusedError(refused);
  }
  const target = m.target!;
  const own = await openTargetStore(m, options);
  try {
    const store = own ?? ctx.store;
    // a split drops every target (all on one store)
    const dropped: { collection: string; documents: number }[] = [];
    for (const t of m.allTargets) {
      const collection = t.target!.collection;
      const documents = await store.collection(collection).count();
      await store.dropCollection(collection);
      dropped.push({ collection, documents });
    }
    const documents = dropped[0]!.documents;
    const result: DropTargetResult = {
      migration: m.id,
      collection: target.collection,
      ...(target.store !== undefined ? { store: redactUrl(target.store) } : {}),
      documents,
      ...(dropped.length > 1 ? { targets: dropped } : {}),
    };
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'drop-target',
      migration: m.id,
      params: { ...result },
      ...why,
      outcome: `dropped ${dropped.map((d) => `${d.collection} (${d.documents} documents)`).join(', ')}`,
    });
    return result;
  } finally {
    await own?.close();
  }
}
