/**
 * complete: finalise an in-place migration. The journal, dead letters and partitions are
 * deleted, so this is the last moment a rollback is possible; after it, going back takes a new
 * migration.
 */
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { DeadLetters } from '../state/dead-letters.js';
import { Journal } from '../state/journal.js';
import { Partitions } from '../state/partitions.js';
import type { EngineContext } from './context.js';

export type CompleteContext = Omit<EngineContext, 'store'>;

export class CompleteRefusedError extends InputError {
  override readonly code = 'E_COMPLETE_REFUSED';
}

export async function complete(
  ctx: CompleteContext,
  m: Migration,
  options: { reason?: string; force?: boolean } = {},
): Promise<CatalogEntry> {
  const entry = await ctx.catalog.get(m.id);
  const ready =
    entry !== null &&
    (entry.status === MigrationStatus.verified ||
      (entry.status === MigrationStatus.backfilled && options.force === true));
  if (!ready) {
    const why =
      entry === null
        ? `migration ${m.id} has not started`
        : entry.status === MigrationStatus.backfilled
          ? `migration ${m.id} is backfilled but not verified: run verify first (or --force)`
          : `migration ${m.id} is ${entry.status}: only a verified migration can be completed`;
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'complete',
      migration: m.id,
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      outcome: `refused: ${why}`,
    });
    throw new CompleteRefusedError(why);
  }
  const journal = new Journal(ctx.stateStore, m.id);
  const journalled = await journal.count();
  await journal.drop();
  await new DeadLetters(ctx.stateStore, m.id).drop();
  await new Partitions(ctx.stateStore).clear(m.id);
  await new Partitions(ctx.stateStore).clear(`${m.id}#verify`);
  const done = await ctx.catalog.update(m.id, (e) => ({
    ...e,
    status: MigrationStatus.complete,
    completedAt: new Date().toISOString(),
  }));
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'complete',
    migration: m.id,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    params: { journalEntriesDeleted: journalled },
    outcome: 'complete',
  });
  return done;
}
