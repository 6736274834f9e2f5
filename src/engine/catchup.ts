/**
 * Catch-up: where the application cannot dual-write through the runtime, tail the source
 * collection's change feed and apply `up` to the target (which may be in another store).
 *
 * Resume rules (what makes kill -9 at any instant harmless):
 * 1. One state document per migration in `_sy_catchup` (key: the migration id) holds the position
 *    to resume after, the counters, and a lease (owner, host, pid, expiry, token). Every write of
 *    it is conditional on the rev this process last wrote: a process whose lease was taken over
 *    finds a conflict at its next save and stops (fencing). Target writes are unconditional, so
 *    a lease renewed more than a third of the TTL ago is renewed before each of them. A second `catchup` waits as a standby
 *    and takes over when the lease expires, at once when the holder was a process of this host
 *    that no longer exists. A lease rather than a bare conditional write: two processes would
 *    both apply every batch (harmless, but twice the work), and a standby is useful.
 * 2. The first start asks the feed for a position "from now" and saves it before anything is
 *    applied. The side-by-side backfill runs with the stage off only once that document exists
 *    (backfill.ts), so a document it does not copy as it is changed after the start: the change
 *    is in the feed.
 * 3. A batch: read the changes after the position -> re-read the source documents by key (the
 *    event's payload is not trusted: the current document is, so duplicates and order do not
 *    matter) -> note the keys whose source document is gone (rule 4) -> write `up(doc)` to the
 *    target, or delete it where the source has none, unconditionally -> save the position. Killed
 *    anywhere in between, the batch is read and applied again; every step is idempotent.
 * 4. The race with the backfill. The backfill copies with must-be-absent writes, so it can
 *    only undo a delete: it reads a document, catch-up deletes it from the target (the source
 *    deleted it), and the backfill's write, made after, puts it back. An update cannot be undone
 *    that way: catch-up's put makes the target document exist, so the backfill's late write
 *    conflicts; and a put by the backfill before catch-up's is overwritten by catch-up. So every
 *    key catch-up finds gone is kept in `_sy_catchup_<id>` (before the target is touched), and
 *    applied again — re-read, put or delete — whenever the catalog says no backfill is running
 *    (status neither backfilling nor paused), then dropped. Only a backfill running when the key
 *    was deleted can have read it before; such a run keeps the status at backfilling until it is
 *    over, and a run started later reads the source without the key. This also covers a backfill
 *    run again later, and a backfill killed and never finished (the keys wait).
 * 4b. What it costs: one state-store write per batch that deletes, and one re-read per deleted
 *    key once the backfill is done. A full replay from the start position would need the feed to
 *    keep every change since the start (MongoDB's oplog may not).
 * 5. Catch-up runs only while the old side is authoritative for every key: stages off,
 *    dual-write and shadow. From live on, the new side answers (and is written first) for some
 *    keys, and copying the old side over it could undo an application write; it refuses to start
 *    and stops when the stage gets there. At complete it releases its place in the feed (the
 *    SQLite feed drops its triggers when nobody reads it); `releaseCatchup` does that on demand
 *    (`catchup --release`), for a catch-up given up on before the migration completes.
 * 6. A document whose up() throws goes to the dead letters (its target document is left as it
 *    is); the position moves on.
 */
import { retryStoreCall } from './retry.js';
import { writeFitting } from './write-fitting.js';
import os from 'node:os';
import { InputError, StoreError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import type { Migration } from '../migration/migration.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { DeadLetters } from '../state/dead-letters.js';
import { defaultWorker, type WorkerIdentity } from '../state/partitions.js';
import type { Change, Collection, Key, Rev, Store, StoredDoc, WriteOp } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import type { EngineContext } from './context.js';
import { sideBySideState, Stage } from './stages.js';
import { sleep, Throttle } from './throttle.js';

export const CATCHUP_COLLECTION = '_sy_catchup';
export const DEFAULT_CATCHUP_BATCH_SIZE = 500;
export const DEFAULT_POLL_MS = 500;
export const DEFAULT_CATCHUP_LEASE_TTL_MS = 15_000;
/** the stages in which the old side is authoritative for every key (rule 5) */
export const CATCHUP_STAGES: readonly Stage[] = [Stage.off, Stage.dualWrite, Stage.shadow];

/** The keys catch-up found deleted, to apply again once no backfill runs (rule 4). */
export function recheckCollectionName(migrationId: string): string {
  return `_sy_catchup_${migrationId}`;
}

/** What `status`, the dashboard and the catalog show of a catch-up. */
export interface CatchupProgress {
  running: boolean;
  worker: string | null;
  /** change events read */
  changes: number;
  /** target documents written with up(doc) */
  applied: number;
  /** target documents deleted (the source had none) */
  deleted: number;
  /** documents whose up() threw (in the dead letters) */
  errors: number;
  /** deleted keys applied again after a backfill (rule 4) */
  rechecked: number;
  /** deleted keys waiting for the backfill to finish (at most this many) */
  pendingRechecks: number;
  /** when the feed was last read to its end (ISO 8601), null before */
  caughtUpAt: string | null;
  /** how far behind the source the target may be, ms: 0 when the last read drained the feed */
  lagMs: number;
  updatedAt: string;
}

export interface CatchupState extends CatchupProgress {
  id: string;
  /** resume after this feed position (opaque, the store's) */
  position: string;
  startedAt: string;
  owner: string | null;
  host: string | null;
  pid: number | null;
  /** epoch ms */
  expiresAt: number;
  /** fencing token: +1 on every change of owner */
  token: number;
  stoppedAt?: string;
  stopReason?: string;
  /** the feed position was given back (stage complete): this catch-up is over */
  released?: boolean;
}

/** The catch-up state of a migration, or null when catch-up never started. */
export async function catchupState(
  stateStore: Store,
  migrationId: string,
): Promise<CatchupState | null> {
  const found = await stateStore.collection(CATCHUP_COLLECTION).get(migrationId);
  return found === null ? null : (found.doc as unknown as CatchupState);
}

/** Has catch-up been started for the migration (its start position saved)? */
export async function catchupStarted(stateStore: Store, migrationId: string): Promise<boolean> {
  const s = await catchupState(stateStore, migrationId);
  return s !== null && s.released !== true;
}

export type CatchupMode = 'follow' | 'until-idle' | 'once';

export interface CatchupOptions {
  /** follow (default): until stopped; until-idle: until the feed is drained; once: one batch */
  mode?: CatchupMode;
  /** changes per batch */
  batchSize?: number;
  /** how long to wait when the feed is drained, ms */
  pollMs?: number;
  /** documents per second (0 or absent: unlimited); adaptive back-off either way */
  rate?: number;
  leaseTtlMs?: number;
  workerId?: string;
  reason?: string;
  signal?: AbortSignal;
  onEvent?: (event: CatchupEvent) => void;
  /** how often progress is published to the catalog, ms (default 2000) */
  progressIntervalMs?: number;
}

export type CatchupOutcome =
  /** until-idle / once: the work asked for is done */
  | 'idle'
  /** stopped by the signal; run again to resume */
  | 'stopped'
  /** the stage left off / dual-write / shadow */
  | 'stage'
  /** another process took the lease over */
  | 'lease-lost';

export interface CatchupResult {
  migration: string;
  outcome: CatchupOutcome;
  message: string;
  progress: CatchupProgress;
}

export type CatchupEvent =
  | { type: 'start'; migration: string; worker: string; resumed: boolean }
  | { type: 'standby'; owner: string; expiresAt: number }
  | {
      type: 'batch';
      changes: number;
      applied: number;
      deleted: number;
      errors: number;
      latencyMs: number;
    }
  | { type: 'recheck'; keys: number }
  | { type: 'retry'; error: string; attempt: number; delayMs: number }
  | { type: 'dead-letter'; key: string; error: string }
  | { type: 'progress'; progress: CatchupProgress }
  | { type: 'done'; result: CatchupResult };

/** A catch-up that cannot run (in place, no change feed, stage, busy). Nothing was changed. */
export class CatchupRefusedError extends InputError {
  override readonly code = 'E_CATCHUP_REFUSED';
}

class LeaseLostError extends Error {}

/** the counters of a catch-up that has applied nothing yet */
const NOTHING_YET = {
  changes: 0,
  applied: 0,
  deleted: 0,
  errors: 0,
  rechecked: 0,
  pendingRechecks: 0,
  caughtUpAt: null,
  lagMs: 0,
} as const;

/** codes of store errors that retrying cannot fix */
const FATAL_STORE_CODES = new Set(['E_CHANGE_POSITION']);

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A change feed that can be told a reader is gone for good (the SQLite adapter can). */
interface ReleasableFeed {
  releaseChanges(position: string): Promise<void>;
}

function canRelease(c: Collection): c is Collection & ReleasableFeed {
  return typeof (c as Partial<ReleasableFeed>).releaseChanges === 'function';
}

export async function catchup(
  ctx: EngineContext,
  migration: Migration,
  options: CatchupOptions = {},
): Promise<CatchupResult> {
  return new CatchupRun(ctx, migration, options).run();
}

class CatchupRun {
  readonly #ctx: EngineContext;
  readonly #m: Migration;
  readonly #o: CatchupOptions;
  readonly #mode: CatchupMode;
  readonly #batchSize: number;
  readonly #pollMs: number;
  readonly #ttl: number;
  readonly #worker: WorkerIdentity;
  readonly #source: Collection;
  readonly #state: Collection;
  readonly #recheck: Collection;
  readonly #dead: DeadLetters;
  readonly #throttle: Throttle;
  #target: Collection | undefined;
  #targetStore: Store | undefined;
  /** the state as this process last wrote it, and that write's rev */
  #s: CatchupState | undefined;
  #rev: Rev | undefined;
  /** keys may wait in the recheck collection */
  #recheckDirty = true;
  #publishedAt = 0;
  #savedAt = 0;

  constructor(ctx: EngineContext, migration: Migration, options: CatchupOptions) {
    this.#ctx = ctx;
    this.#m = migration;
    this.#o = options;
    this.#mode = options.mode ?? 'follow';
    this.#batchSize = options.batchSize ?? DEFAULT_CATCHUP_BATCH_SIZE;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#ttl = options.leaseTtlMs ?? DEFAULT_CATCHUP_LEASE_TTL_MS;
    this.#worker = defaultWorker(options.workerId);
    this.#source = ctx.store.collection(migration.collection);
    this.#state = ctx.stateStore.collection(CATCHUP_COLLECTION);
    this.#recheck = ctx.stateStore.collection(recheckCollectionName(migration.id));
    this.#dead = new DeadLetters(ctx.stateStore, migration.id);
    this.#throttle = new Throttle({ rate: options.rate ?? 0 });
  }

  #aborted(): boolean {
    return this.#o.signal?.aborted === true;
  }

  #emit(event: CatchupEvent): void {
    this.#o.onEvent?.(event);
  }

  async run(): Promise<CatchupResult> {
    const stage = await this.#preflight();
    if (stage === Stage.complete) {
      // the migration is over: give the place in the feed back (once), nothing to follow
      const released = await releaseCatchup(this.#ctx, this.#m, {
        ...(this.#o.reason !== undefined ? { reason: this.#o.reason } : {}),
        why: 'the migration is complete',
      });
      if (!released)
        return this.#refuse(
          `migration ${this.#m.id} is complete: nothing to catch up (and no catch-up to release)`,
          'stage',
        );
      const result = this.#result(
        'stage',
        `migration ${this.#m.id} is complete: catch-up released its place in the change feed`,
      );
      this.#emit({ type: 'done', result });
      return result;
    }
    await this.#openTarget();
    let result: CatchupResult | undefined;
    try {
      const acquired = await this.#acquire();
      if (acquired === null) {
        result = this.#result('stopped', 'stopped while waiting for the lease');
        return result;
      }
      await this.#audit('started', { resumed: acquired.resumed });
      this.#emit({
        type: 'start',
        migration: this.#m.id,
        worker: this.#worker.id,
        resumed: acquired.resumed,
      });
      result = await this.#loop();
      await this.#stop(result);
      result = { ...result, progress: this.#progress() };
      return result;
    } catch (err) {
      if (this.#s !== undefined && !(err instanceof LeaseLostError))
        await this.#stop(undefined, `failed: ${(err as Error).message}`).catch(() => undefined);
      if (err instanceof LeaseLostError) {
        result = this.#result('lease-lost', err.message);
        await this.#audit(`stopped: ${err.message}`, this.#counters());
        return result;
      }
      throw err;
    } finally {
      if (result !== undefined) this.#emit({ type: 'done', result });
      await this.#targetStore?.close();
    }
  }

  /** Refuse what cannot run, before anything is written (each refusal is audited). */
  async #preflight(): Promise<Stage> {
    const m = this.#m;
    for (const [name, v] of [
      ['batchSize', this.#batchSize],
      ['pollMs', this.#pollMs],
      ['leaseTtlMs', this.#ttl],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new CatchupRefusedError(`${name} must be a positive integer, got ${v}`, {
          field: name,
        });
    }
    if (m.kind !== 'side-by-side')
      return this.#refuse(
        `${m.id} is an in-place migration: catch-up copies a source collection into a target one (a side-by-side migration, with \`target\`)`,
        'id',
      );
    if (m.isEmpty) return this.#refuse(`migration ${m.id} has no operations and no up() yet`);
    if (!this.#source.capabilities.changeFeed || typeof this.#source.changes !== 'function')
      return this.#refuse(
        `the source store (${this.#ctx.store.kind}: ${this.#ctx.store.url}) has no change feed, so catch-up cannot follow '${m.collection}': it needs sqlite, dynamodb (a table with a stream), or mongodb with change streams. Let the application write both sides through the runtime instead (switchyard stage ${m.id} dual-write).`,
        'store',
      );
    await this.#ctx.catalog.register({
      id: m.id,
      collection: m.collection,
      kind: m.kind,
      from: m.from,
      to: m.to,
      checksum: m.checksum,
      ...(m.file !== undefined ? { file: m.file } : {}),
    });
    const stage = sideBySideState(await this.#ctx.catalog.get(m.id)).stage;
    if (stage !== Stage.complete && !CATCHUP_STAGES.includes(stage))
      return this.#refuse(stageReason(m.id, stage), 'stage');
    return stage;
  }

  async #refuse(why: string, field?: string): Promise<never> {
    await this.#audit(`refused: ${why}`);
    throw new CatchupRefusedError(why, field !== undefined ? { field } : {});
  }

  async #audit(outcome: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.#ctx.audit.append({
      actor: this.#ctx.actor,
      command: 'catchup',
      migration: this.#m.id,
      params: { mode: this.#mode, batchSize: this.#batchSize, worker: this.#worker.id, ...params },
      ...(this.#o.reason !== undefined ? { reason: this.#o.reason } : {}),
      outcome,
    });
  }

  async #openTarget(): Promise<void> {
    const target = this.#m.target!;
    if (target.store !== undefined) this.#targetStore = await openStore(target.store);
    this.#target = (this.#targetStore ?? this.#ctx.store).collection(target.collection);
  }

  /**
   * Create the state (the first start: a position from now, saved before anything is applied) or
   * take the lease over. Waits as a standby while another live process holds it (follow mode);
   * refuses in the other modes. Null when stopped while waiting.
   */
  async #acquire(): Promise<{ resumed: boolean } | null> {
    for (;;) {
      if (this.#aborted()) return null;
      const now = Date.now();
      const current = await this.#retrying('catch-up state', () => this.#state.get(this.#m.id));
      if (current === null) {
        const start = await this.#retrying('changes', () => this.#source.changes!(null, 0));
        const fresh: CatchupState = {
          id: this.#m.id,
          position: start.position,
          startedAt: new Date(now).toISOString(),
          ...this.#ownedBy(now, 1),
          running: true,
          worker: this.#worker.id,
          ...NOTHING_YET,
          updatedAt: new Date(now).toISOString(),
        };
        const [res] = await this.#state.write([
          { type: 'put', key: this.#m.id, doc: toDoc(fresh), ifRev: null },
        ]);
        if (res?.ok) {
          this.#s = fresh;
          this.#rev = res.rev!;
          this.#savedAt = now;
          return { resumed: false };
        }
        // another process started at the same moment: give the place in the feed back, use theirs
        if (canRelease(this.#source))
          await this.#source.releaseChanges(start.position).catch(() => undefined);
        continue;
      }
      // (numbers past 32 bits, like expiresAt, may come back as EJSON Double objects: Number())
      const s = current.doc as unknown as CatchupState;
      if (s.released === true) {
        // released earlier (--release): start again from now, as on a first start
        await this.#retrying('catch-up state', () =>
          this.#state.write([{ type: 'delete', key: this.#m.id, ifRev: current.rev }]),
        );
        continue;
      }
      const w = this.#worker;
      const mine = s.owner === w.id && s.host === w.host && s.pid === w.pid;
      const free =
        s.owner === null ||
        Number(s.expiresAt) <= now ||
        (s.host === w.host && s.pid !== null && s.pid !== w.pid && !processAlive(s.pid));
      if (!mine && !free) {
        if (this.#mode !== 'follow')
          return this.#refuse(
            `catch-up of ${this.#m.id} is running in ${s.owner} (lease until ${new Date(Number(s.expiresAt)).toISOString()}): stop it first, or run without --once/--until-idle to wait as a standby`,
          );
        this.#emit({ type: 'standby', owner: s.owner!, expiresAt: Number(s.expiresAt) });
        await sleep(Math.min(1000, this.#ttl / 3), this.#o.signal);
        continue;
      }
      const next: CatchupState = {
        ...s,
        ...this.#ownedBy(now, mine ? s.token : s.token + 1),
        running: true,
        worker: w.id,
        updatedAt: new Date(now).toISOString(),
      };
      delete next.stoppedAt;
      delete next.stopReason;
      const [res] = await this.#state.write([
        { type: 'put', key: this.#m.id, doc: toDoc(next), ifRev: current.rev },
      ]);
      if (res?.ok) {
        this.#s = next;
        this.#rev = res.rev!;
        this.#savedAt = now;
        this.#recheckDirty = true;
        return { resumed: true };
      }
    }
  }

  #ownedBy(now: number, token: number) {
    const w = this.#worker;
    return { owner: w.id, host: w.host, pid: w.pid, expiresAt: now + this.#ttl, token };
  }

  /** Write the state (renewing the lease), conditional on this process's last write. */
  async #save(patch: Partial<CatchupState>): Promise<void> {
    const now = Date.now();
    const next: CatchupState = {
      ...this.#s!,
      expiresAt: now + this.#ttl,
      ...patch,
      updatedAt: new Date(now).toISOString(),
    };
    const [res] = await this.#retrying('catch-up state', () =>
      this.#state.write([{ type: 'put', key: this.#m.id, doc: toDoc(next), ifRev: this.#rev! }]),
    );
    if (!res?.ok)
      throw new LeaseLostError(
        `lost the catch-up lease of ${this.#m.id}: another process took it over`,
      );
    this.#s = next;
    this.#rev = res.rev!;
    this.#savedAt = now;
  }

  /**
   * Target writes are unconditional, so they must not be made by a process whose lease may have
   * been taken over (it could write an older read over the new holder's). Before writing, a
   * lease last renewed more than a third of the TTL ago is renewed (conditionally: LeaseLost
   * when it was taken); the write then starts with at least two thirds of the TTL left.
   */
  async #ensureLease(): Promise<void> {
    if (Date.now() - this.#savedAt > this.#ttl / 3) await this.#save({});
  }

  async #loop(): Promise<CatchupResult> {
    for (;;) {
      if (this.#aborted()) return this.#result('stopped', this.#stoppedMessage());
      const entry = await this.#retrying('catalog', () => this.#ctx.catalog.get(this.#m.id));
      const stage = sideBySideState(entry).stage;
      if (!CATCHUP_STAGES.includes(stage)) {
        if (stage === Stage.complete) await this.#releaseFeed();
        return this.#result('stage', stageReason(this.#m.id, stage));
      }
      if (this.#recheckDirty && !backfillMayRun(entry)) await this.#recheckAll();

      const startedAt = Date.now();
      const position = this.#s!.position;
      const read = await this.#retrying('changes', () =>
        this.#source.changes!(position, this.#batchSize),
      );
      const drained = read.changes.length < this.#batchSize;
      const counts =
        read.changes.length > 0
          ? await this.#apply(read.changes)
          : { applied: 0, deleted: 0, errors: 0 };
      const now = Date.now();
      const caughtUpAt = drained ? new Date(now).toISOString() : this.#s!.caughtUpAt;
      const lagMs = drained
        ? 0
        : now - (caughtUpAt !== null ? Date.parse(caughtUpAt) : Date.parse(this.#s!.startedAt));
      const s = this.#s!;
      if (
        read.changes.length > 0 ||
        read.position !== position ||
        now - this.#savedAt > this.#ttl / 3
      ) {
        await this.#save({
          position: read.position,
          changes: s.changes + read.changes.length,
          applied: s.applied + counts.applied,
          deleted: s.deleted + counts.deleted,
          errors: s.errors + counts.errors,
          caughtUpAt,
          lagMs,
        });
      } else {
        this.#s = { ...s, caughtUpAt, lagMs };
      }
      if (read.changes.length > 0)
        this.#emit({
          type: 'batch',
          changes: read.changes.length,
          ...counts,
          latencyMs: now - startedAt,
        });
      await this.#publishMaybe();
      if (this.#mode === 'once') return this.#result('idle', this.#summary('one batch'));
      if (drained) {
        if (this.#mode === 'until-idle') {
          // keys noted in this run are rechecked only on a status read after they were noted
          if (this.#recheckDirty) {
            const now = await this.#retrying('catalog', () => this.#ctx.catalog.get(this.#m.id));
            if (!backfillMayRun(now)) await this.#recheckAll();
          }
          return this.#result('idle', this.#summary('caught up'));
        }
        await sleep(this.#pollMs, this.#o.signal);
      }
    }
  }

  /**
   * Apply a batch of changes: re-read the source by key, note the keys that are gone (rule 4),
   * then write up(doc) or delete in the target.
   */
  async #apply(
    changes: readonly Change[],
  ): Promise<{ applied: number; deleted: number; errors: number }> {
    const keys = [...new Set(changes.map((c) => c.key))];
    // the rate limiter's wait is not store latency: keep it out of the back-off's measurement
    await this.#throttle.take(keys.length, this.#o.signal);
    const started = performance.now();
    const docs = await this.#retrying('getMany', () => this.#source.getMany(keys));
    const gone = keys.filter((_k, i) => docs[i] === null);
    if (gone.length > 0) {
      await this.#retrying('recheck', () =>
        this.#recheck.write(
          gone.map((key) => ({ type: 'put' as const, key, doc: { key, at: Date.now() } })),
        ),
      );
      this.#recheckDirty = true;
      this.#s = { ...this.#s!, pendingRechecks: this.#s!.pendingRechecks + gone.length };
    }
    const counts = await this.#write(keys, docs);
    this.#throttle.observe(performance.now() - started);
    return counts;
  }

  /** up(doc) for present documents, delete for absent ones; dead letters for failing up(). */
  async #write(
    keys: readonly Key[],
    docs: readonly (StoredDoc | null)[],
  ): Promise<{ applied: number; deleted: number; errors: number }> {
    const ops: WriteOp[] = [];
    const dead: { key: string; error: string; version: number; at: number }[] = [];
    let applied = 0;
    let deleted = 0;
    keys.forEach((key, i) => {
      const found = docs[i] ?? null;
      if (found === null) {
        ops.push({ type: 'delete', key });
        deleted += 1;
        return;
      }
      let after: Doc;
      try {
        after = this.#m.up(found.doc);
      } catch (err) {
        dead.push({
          key,
          error: (err as Error).message,
          version: this.#m.versionOf(found.doc),
          at: Date.now(),
        });
        return;
      }
      ops.push({ type: 'put', key, doc: after });
      applied += 1;
    });
    if (dead.length > 0) {
      await this.#retrying('dead letters', () => this.#dead.add(dead));
      for (const d of dead) this.#emit({ type: 'dead-letter', key: d.key, error: d.error });
    }
    if (ops.length > 0) {
      await this.#ensureLease();
      const results = await writeFitting(
        ops,
        (fit) => this.#retrying('write', () => this.#target!.write(fit)),
        async (err) => {
          const d = { key: err.key, error: err.message, version: this.#m.from, at: Date.now() };
          await this.#retrying('dead letters', () => this.#dead.add([d]));
          this.#emit({ type: 'dead-letter', key: d.key, error: d.error });
          applied -= 1;
          dead.push(d);
        },
      );
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0)
        throw new StoreError(
          `unconditional writes to '${this.#m.target!.collection}' reported conflicts for ${failed.map((r) => r.key).join(', ')}`,
        );
    }
    return { applied, deleted, errors: dead.length };
  }

  /** Apply every noted deleted key again and forget it (rule 4); only when no backfill runs. */
  async #recheckAll(): Promise<void> {
    let total = 0;
    for (;;) {
      if (this.#aborted()) return;
      const page = await this.#retrying('recheck', () =>
        this.#recheck.scan({ limit: this.#batchSize }),
      );
      if (page.items.length === 0) break;
      const keys = page.items.map((i) => i.key);
      const docs = await this.#retrying('getMany', () => this.#source.getMany(keys));
      await this.#write(keys, docs);
      await this.#retrying('recheck', () =>
        this.#recheck.write(
          page.items.map((i) => ({ type: 'delete' as const, key: i.key, ifRev: i.rev })),
        ),
      );
      total += keys.length;
    }
    this.#recheckDirty = false;
    if (total > 0 || this.#s!.pendingRechecks !== 0) {
      this.#emit({ type: 'recheck', keys: total });
      await this.#save({ rechecked: this.#s!.rechecked + total, pendingRechecks: 0 });
    }
  }

  /** The migration is complete: give the feed position back (the feed may drop its triggers). */
  async #releaseFeed(): Promise<void> {
    if (canRelease(this.#source))
      await this.#source.releaseChanges(this.#s!.position).catch(() => undefined);
    this.#s = { ...this.#s!, released: true };
    await this.#recheckClear();
  }

  async #recheckClear(): Promise<void> {
    await this.#ctx.stateStore.dropCollection(recheckCollectionName(this.#m.id));
  }

  /** Give the lease back and record why this run ended. */
  async #stop(result: CatchupResult | undefined, failure?: string): Promise<void> {
    const reason = result?.outcome ?? failure ?? 'stopped';
    await this.#save({
      running: false,
      owner: null,
      host: null,
      pid: null,
      expiresAt: 0,
      stoppedAt: new Date().toISOString(),
      stopReason: result !== undefined ? result.message : (failure ?? reason),
    });
    await this.#publish();
    await this.#audit(
      result !== undefined ? `stopped: ${result.outcome}` : reason,
      this.#counters(),
    );
  }

  #counters(): Record<string, unknown> {
    const s = this.#s;
    if (s === undefined) return {};
    return {
      changes: s.changes,
      applied: s.applied,
      deleted: s.deleted,
      errors: s.errors,
      rechecked: s.rechecked,
      pendingRechecks: s.pendingRechecks,
    };
  }

  #progress(): CatchupProgress {
    const s = this.#s!;
    return {
      running: s.running,
      worker: s.owner,
      changes: s.changes,
      applied: s.applied,
      deleted: s.deleted,
      errors: s.errors,
      rechecked: s.rechecked,
      pendingRechecks: s.pendingRechecks,
      caughtUpAt: s.caughtUpAt,
      lagMs: s.lagMs,
      updatedAt: s.updatedAt,
    };
  }

  async #publishMaybe(): Promise<void> {
    if (Date.now() - this.#publishedAt < (this.#o.progressIntervalMs ?? 2000)) return;
    await this.#publish();
  }

  /** Mirror the progress into the catalog entry (`catchup`), for status and the dashboard. */
  async #publish(): Promise<void> {
    if (this.#s === undefined) return;
    this.#publishedAt = Date.now();
    const progress = this.#progress();
    await this.#retrying('catalog', () =>
      this.#ctx.catalog.update(this.#m.id, (e) => ({ ...e, catchup: progress })),
    );
    this.#emit({ type: 'progress', progress });
  }

  #summary(what: string): string {
    const s = this.#s!;
    return `${what}: ${s.changes} changes read, ${s.applied} documents written, ${s.deleted} deleted, ${s.errors} dead letters${s.pendingRechecks > 0 ? `, ${s.pendingRechecks} deleted keys waiting for the backfill to finish` : ''}`;
  }

  #stoppedMessage(): string {
    return `${this.#summary('stopped')}; run catchup again to resume from the saved position`;
  }

  #result(outcome: CatchupOutcome, message: string): CatchupResult {
    const progress: CatchupProgress =
      this.#s !== undefined
        ? this.#progress()
        : {
            running: false,
            worker: null,
            ...NOTHING_YET,
            updatedAt: new Date().toISOString(),
          };
    return { migration: this.#m.id, outcome, message, progress };
  }

  /** Call the store, retrying failures with exponential back-off (and slowing the throttle). */
  #retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryStoreCall(what, fn, {
      throttle: this.#throttle,
      onRetry: (r) => this.#emit({ type: 'retry', ...r }),
      isFatal: (err) => {
        const code = (err as { code?: unknown })?.code;
        return typeof code === 'string' && FATAL_STORE_CODES.has(code);
      },
    });
  }
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
  const source = ctx.store.collection(m.collection);
  if (canRelease(source)) await source.releaseChanges(s.position);
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
    { type: 'put', key: m.id, doc: toDoc(next), ifRev: current.rev },
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

/** A backfill may be running (or resume) while the status is backfilling or paused (rule 4). */
function backfillMayRun(entry: CatalogEntry | null): boolean {
  return entry?.status === MigrationStatus.backfilling || entry?.status === MigrationStatus.paused;
}

function stageReason(id: string, stage: Stage): string {
  return stage === Stage.complete
    ? `migration ${id} is complete: the old side is no longer the truth, nothing to catch up`
    : `migration ${id} is at stage ${stage}: the new side answers and is written first for some keys, and catch-up would copy the old side over them. Catch-up runs in ${CATCHUP_STAGES.join(', ')} (step back with switchyard stage ${id} shadow)`;
}

function toDoc(v: object): Doc {
  return JSON.parse(JSON.stringify(v)) as Doc;
}
