/**
 * rollback: put an in-place migration's documents back as they were, exactly, without losing
 * what the application wrote since.
 *
 * With the journal, for each journalled document:
 * - still what the migration wrote (content hash = the journal's afterHash): restore the exact
 *   before-image, with a write conditional on the rev just read;
 * - changed by the application since: apply down() when the migration is exactly invertible;
 *   otherwise keep the application's document and report a conflict;
 * - not at the target version (its write never happened, or the app wrote the old shape): keep;
 * - deleted by the application: stays deleted.
 * Then a sweep over the collection handles documents at the target version that have no journal
 * entry (written in the new shape by the application): down() where exact, else a conflict.
 * Without a journal, down() is applied to every document at the target version, and the rollback
 * is refused up front when the migration has no exact inverse.
 *
 * Resume rules: journal entries are deleted once their document is settled, so a killed rollback,
 * run again, continues with what is left; a document already restored is at `from` and is left
 * alone. Conflicts are recorded in `_sy_conflicts_<id>` so they outlive the journal.
 */
import { InputError } from '../core/errors.js';
import { contentHash } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { rollbackBlockedBy } from '../state/chain-order.js';
import { DeadLetters } from '../state/dead-letters.js';
import { beforeImage, Journal } from '../state/journal.js';
import { Partitions } from '../state/partitions.js';
import type { Collection, StoredDoc, Store, WriteOp } from '../store/contract.js';
import type { BackfillControl } from './backfill.js';
import type { EngineContext } from './context.js';
import { ProgressMeter, type ProgressSnapshot } from './progress.js';
import { Throttle } from './throttle.js';

const BATCH = 500;
const MAX_ROUNDS = 10;

export type RollbackContext = EngineContext;

export interface RollbackOptions {
  reason?: string;
  batchSize?: number;
  /** documents per second (0 or absent: unlimited) */
  rate?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressSnapshot & RollbackCounts) => void;
  /** conflicts kept in the report (default 20) */
  maxSamples?: number;
}

export interface RollbackCounts {
  /** restored to the exact before-image */
  restored: number;
  /** changed by the application since; turned back with down() */
  downcast: number;
  /** left alone: already at the old version, or deleted by the application */
  untouched: number;
  /** changed by the application, no exact inverse: the application's document was kept */
  conflicts: number;
}

export interface RollbackResult extends RollbackCounts {
  migration: string;
  outcome: 'rolled-back' | 'aborted';
  usedJournal: boolean;
  conflictSamples: { key: string; reason: string }[];
  elapsedSeconds: number;
}

export class RollbackRefusedError extends InputError {
  override readonly code = 'E_ROLLBACK_REFUSED';
}

export function conflictsCollectionName(migrationId: string): string {
  return `_sy_conflicts_${migrationId}`;
}

type Plan =
  | { kind: 'write'; op: WriteOp; count: keyof RollbackCounts }
  | { kind: 'untouched' }
  | { kind: 'conflict'; reason: string };

export async function rollback(
  ctx: RollbackContext,
  migration: Migration,
  options: RollbackOptions = {},
): Promise<RollbackResult> {
  const started = Date.now();
  const m = migration;
  const journal = new Journal(ctx.stateStore, m.id);
  const source = ctx.store.collection(m.collection);
  const conflictsColl = ctx.stateStore.collection(conflictsCollectionName(m.id));
  const counts: RollbackCounts = { restored: 0, downcast: 0, untouched: 0, conflicts: 0 };
  const samples: { key: string; reason: string }[] = [];
  const maxSamples = options.maxSamples ?? 20;
  const throttle = new Throttle({ rate: options.rate ?? 0 });
  const batchSize = options.batchSize ?? BATCH;

  const entry = await start(ctx, m, options);
  const usedJournal = entry.journal !== false && (await journal.count()) > 0;
  const meter = new ProgressMeter(usedJournal ? await journal.count() : await source.count());
  let done = 0;

  const conflict = async (key: string, reason: string) => {
    counts.conflicts += 1;
    if (samples.length < maxSamples) samples.push({ key, reason });
    await conflictsColl.write([
      { type: 'put', key, doc: { key, reason, at: new Date().toISOString() } },
    ]);
  };

  /** Settle a set of documents, re-reading the ones whose conditional write conflicted. */
  const settle = async (
    items: { key: string; current: StoredDoc | null; plan: (s: StoredDoc | null) => Plan }[],
  ) => {
    let pending = items;
    for (let round = 0; pending.length > 0 && round < MAX_ROUNDS; round++) {
      const writes: { op: WriteOp; count: keyof RollbackCounts; item: (typeof items)[number] }[] =
        [];
      for (const item of pending) {
        const p = item.plan(item.current);
        if (p.kind === 'untouched') counts.untouched += 1;
        else if (p.kind === 'conflict') await conflict(item.key, p.reason);
        else writes.push({ op: p.op, count: p.count, item });
      }
      if (writes.length === 0) return;
      const results = await source.write(writes.map((w) => w.op));
      const again: typeof items = [];
      results.forEach((r, i) => {
        if (r.ok) counts[writes[i]!.count] += 1;
        else again.push(writes[i]!.item);
      });
      if (again.length === 0) return;
      const reread = await source.getMany(again.map((a) => a.key));
      pending = again.map((a, i) => ({ ...a, current: reread[i] ?? null }));
    }
    for (const item of pending)
      await conflict(item.key, `kept changing during rollback (${MAX_ROUNDS} conflicting writes)`);
  };

  const downPlan = (s: StoredDoc | null, why: string): Plan => {
    if (s === null) return { kind: 'untouched' };
    if (!m.isMigrated(s.doc)) return { kind: 'untouched' };
    if (!m.reversible)
      return {
        kind: 'conflict',
        reason: `${why}, and the migration has no exact inverse: kept the application's document`,
      };
    try {
      return {
        kind: 'write',
        op: { type: 'put', key: s.key, doc: m.down(s.doc), ifRev: s.rev },
        count: 'downcast',
      };
    } catch (err) {
      return { kind: 'conflict', reason: `${why}; down() failed: ${(err as Error).message}` };
    }
  };

  // 1. the journal: always from its first page, since settled entries are deleted
  if (usedJournal) {
    for (;;) {
      if (options.signal?.aborted) return finish('aborted');
      const page = await journal.scan(null, batchSize);
      if (page.entries.length === 0) break;
      await throttle.take(page.entries.length, options.signal);
      const current = await source.getMany(page.entries.map((e) => e.key));
      await settle(
        page.entries.map((e, i) => ({
          key: e.key,
          current: current[i] ?? null,
          plan: (s: StoredDoc | null): Plan => {
            if (s === null) return { kind: 'untouched' }; // deleted by the application: stays deleted
            if (contentHash(s.doc) === e.afterHash)
              return {
                kind: 'write',
                op: { type: 'put', key: e.key, doc: beforeImage(e), ifRev: s.rev },
                count: 'restored',
              };
            return downPlan(s, 'changed by the application after the migration wrote it');
          },
        })),
      );
      await journal.remove(page.entries.map((e) => e.key));
      done += page.entries.length;
      options.onProgress?.({ ...meter.snapshot(done), ...counts });
    }
  }

  // 2. the sweep: documents at the target version the journal does not cover
  let cursor: string | null = null;
  do {
    if (options.signal?.aborted) return finish('aborted');
    const page = await source.scan({ cursor, limit: batchSize });
    let migrated = page.items.filter((s) => m.isMigrated(s.doc));
    if (migrated.length > 0) {
      // documents already settled as conflicts (by the journal pass, or a run before) stay as they are
      const known = await conflictsColl.getMany(migrated.map((s) => s.key));
      migrated = migrated.filter((_s, i) => known[i] === null);
    }
    if (migrated.length > 0) {
      await throttle.take(migrated.length, options.signal);
      await settle(
        migrated.map((s) => ({
          key: s.key,
          current: s,
          plan: (x: StoredDoc | null) =>
            downPlan(
              x,
              usedJournal
                ? 'at the new version without a before-image (written by the application)'
                : 'no journal',
            ),
        })),
      );
    }
    if (!usedJournal) {
      done += page.items.length;
      options.onProgress?.({ ...meter.snapshot(done), ...counts });
    }
    cursor = page.cursor;
  } while (cursor !== null);

  // 3. done: forget the run, so a new backfill starts from scratch
  await new Partitions(ctx.stateStore).clear(m.id);
  await journal.drop();
  await new DeadLetters(ctx.stateStore, m.id).drop();
  return finish('rolled-back');

  async function finish(outcome: RollbackResult['outcome']): Promise<RollbackResult> {
    const result: RollbackResult = {
      migration: m.id,
      outcome,
      usedJournal,
      ...counts,
      conflictSamples: samples,
      elapsedSeconds: Math.round((Date.now() - started) / 100) / 10,
    };
    if (outcome === 'rolled-back') {
      await ctx.catalog.update(m.id, (e) => {
        const { progress: _p, ...rest } = e;
        return {
          ...rest,
          status: MigrationStatus.rolledBack,
          rolledBackAt: new Date().toISOString(),
          control: { paused: false },
          lastRollback: { ...counts },
        };
      });
    }
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'rollback',
      migration: m.id,
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      params: { ...counts, usedJournal },
      outcome:
        outcome === 'rolled-back'
          ? counts.conflicts > 0
            ? `rolled back, ${counts.conflicts} conflicts kept`
            : 'rolled back'
          : 'stopped; run rollback again to continue',
    });
    return result;
  }
}

/** Check the status, stop running backfill workers, mark rolling-back. */
async function start(
  ctx: RollbackContext,
  m: Migration,
  options: RollbackOptions,
): Promise<CatalogEntry> {
  let refused: string | undefined;
  const existing = await ctx.catalog.get(m.id);
  if (existing === null) {
    refused = `migration ${m.id} has not started: there is nothing to roll back`;
  } else if (existing.status === MigrationStatus.complete) {
    refused = `migration ${m.id} is complete: its journal was deleted, so it can no longer be rolled back. Write a new migration that goes back.`;
  } else if (existing.journal === false && !m.reversible) {
    refused = `migration ${m.id} ran without the journal and has no exact inverse (${m.lossy.map((l) => l.step).join('; ')}): it cannot be rolled back exactly`;
  } else if (m.kind !== 'in-place') {
    refused = `migration ${m.id} is side by side: roll it back by stepping its stage back`;
  } else {
    refused = rollbackBlockedBy(await ctx.catalog.list(), m);
  }
  if (refused !== undefined) {
    await ctx.audit.append({
      actor: ctx.actor,
      command: 'rollback',
      migration: m.id,
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      outcome: `refused: ${refused}`,
    });
    throw new RollbackRefusedError(refused);
  }
  // a fresh rollback (not the resumption of one that was interrupted) starts with no conflicts
  if (existing!.status !== MigrationStatus.rollingBack)
    await ctx.stateStore.dropCollection(conflictsCollectionName(m.id));
  const entry = await ctx.catalog.update(m.id, (e) => ({
    ...e,
    status: MigrationStatus.rollingBack,
    // running backfill workers read this before their next batch and stop
    control: {
      ...((e.control as BackfillControl | undefined) ?? {}),
      paused: true,
      reason: 'rolling back',
      by: ctx.actor,
    },
  }));
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'rollback',
    migration: m.id,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    outcome: 'started',
  });
  return entry;
}

export async function listConflicts(
  stateStore: Store,
  migrationId: string,
  limit = 100,
): Promise<{ key: string; reason: string }[]> {
  const c: Collection = stateStore.collection(conflictsCollectionName(migrationId));
  const page = await c.scan({ limit });
  return page.items.map((s) => ({ key: s.key, reason: String(s.doc.reason) }));
}
