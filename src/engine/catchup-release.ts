/**
 * `releaseCatchup` (`catchup --release`, and catchup.ts when the stage reached complete): give
 * catch-up's place in the source's change feed back, for a catch-up given up on before the
 * migration completes (catchup.ts, rule 4).
 */
import os from 'node:os';
import { InputError } from '../core/errors.js';
import type { Migration } from '../migration/migration.js';
import { processAlive } from '../state/lease.js';
import type { EngineContext } from './context.js';
import { recheckCollectionName } from './jobs/catchup/apply-changes.js';
import { CATCHUP_COLLECTION, type CatchupState } from './jobs/catchup/feed-unit.js';
import { SourceFeeds } from './jobs/catchup/source-feeds.js';

/** A catch-up that cannot run (in place, no change feed, stage, busy). Nothing was changed. */
export class CatchupRefusedError extends InputError {
  override readonly code = 'E_CATCHUP_REFUSED';
}

/**
 * Give catch-up's place in the source's change feed back and mark its state released (a later
 * `catchup` starts from now; the backfill no longer counts it as started). The SQLite feed drops
 * its triggers and changelog when no reader is left. Refused while a live process holds the
 * lease. Returns false when there was nothing to release. Audited.
 */
export async function releaseCatchup(
  ctx: EngineContext,
  m: Migration,
  options: { reason?: string; why?: string } = {},
): Promise<boolean> {
  const states = ctx.stateStore.collection(CATCHUP_COLLECTION);
  const current = await states.get(m.id);
  const s = current?.doc as unknown as CatchupState | undefined;
  if (current === null || s === undefined || s.released === true) return false;
  const now = Date.now();
  const host = os.hostname();
  const alive =
    s.owner !== null &&
    Number(s.expiresAt) > now &&
    !(s.host === host && s.pid !== null && s.pid !== process.pid && !processAlive(s.pid));
  if (alive && !(s.host === host && s.pid === process.pid))
    throw new CatchupRefusedError(
      `catch-up of ${m.id} is running in ${s.owner}: stop it first (Ctrl-C), then release`,
    );
  await new SourceFeeds(ctx.store, m).release(s.position);
  const next: CatchupState = {
    ...s,
    released: true,
    running: false,
    owner: null,
    host: null,
    pid: null,
    expiresAt: 0,
    stoppedAt: new Date(now).toISOString(),
    stopReason: `released${options.why !== undefined ? `: ${options.why}` : ''}`,
    updatedAt: new Date(now).toISOString(),
  };
  const [res] = await states.write([
    { type: 'put', key: m.id, doc: JSON.parse(JSON.stringify(next)), ifRev: current.rev },
  ]);
  if (!res?.ok)
    throw new CatchupRefusedError(`catch-up of ${m.id} changed meanwhile: run release again`);
  await ctx.stateStore.dropCollection(recheckCollectionName(m.id));
  await ctx.audit.append({
    actor: ctx.actor,
    command: 'catchup.release',
    migration: m.id,
    params: {
      changes: s.changes,
      applied: s.applied,
      deleted: s.deleted,
      why: options.why ?? null,
    },
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    outcome: 'released',
  });
  return true;
}
