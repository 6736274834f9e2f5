/**
 * The dashboard's view of the audit log, read incrementally: entries are keyed by sequence
 * number (state/audit-log.ts `auditKey`), so each refresh reads only the keys after the last one
 * seen, up to the first that is absent. It keeps the newest entries, and per migration its
 * newest entries, its last verify and the settings its last backfill worker started with.
 *
 * The chain check (`AuditLog.verify`, which reads the whole log) runs at most every
 * `CHAIN_CHECK_MS`, and only when the log grew or the last check is older than
 * `CHAIN_RECHECK_MS`; an edit of an old entry is found by the periodic recheck.
 */
import { auditKey, type AuditEntry, type AuditLog } from '../state/audit-log.js';
import { STATE_COLLECTIONS } from '../state/state-collections.js';
import type { Collection, Store } from '../store/contract.js';
import type { AuditChainView, AuditEntryView, ChaosView } from './api-types.js';

const PAGE = 500;
const RECENT = 100;
const PER_MIGRATION = 20;
export const CHAIN_CHECK_MS = 5_000;
export const CHAIN_RECHECK_MS = 60_000;

export function entryView(e: AuditEntry): AuditEntryView {
  return {
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    command: e.command,
    ...(e.migration !== undefined ? { migration: e.migration } : {}),
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.params !== undefined ? { params: e.params } : {}),
    outcome: e.outcome,
  };
}

export class AuditTail {
  readonly #log: Collection;
  readonly #audit: AuditLog;
  #next = 1;
  readonly #recent: AuditEntryView[] = [];
  readonly #byMigration = new Map<string, AuditEntryView[]>();
  readonly #lastVerify = new Map<string, AuditEntryView>();
  readonly #startedWith = new Map<string, Record<string, unknown>>();
  readonly #chaos = new Map<string, ChaosView>();
  #chain: AuditChainView = { ok: null, entries: 0, checkedAt: null };
  #chainCheckedAt = 0;
  #chainCheckedSeq = 0;

  constructor(stateStore: Store, audit: AuditLog) {
    this.#log = stateStore.collection(STATE_COLLECTIONS.audit);
    this.#audit = audit;
  }

  /** Read what was appended since the last call. */
  async refresh(): Promise<void> {
    for (;;) {
      const keys = Array.from({ length: PAGE }, (_, i) => auditKey(this.#next + i));
      const got = await this.#log.getMany(keys);
      let read = 0;
      for (const item of got) {
        if (item === null) break;
        this.#add(item.doc as unknown as AuditEntry);
        read += 1;
      }
      this.#next += read;
      if (read < PAGE) break;
    }
    const now = Date.now();
    const grew = this.#next - 1 !== this.#chainCheckedSeq;
    if (
      now - this.#chainCheckedAt >= CHAIN_CHECK_MS &&
      (grew || now - this.#chainCheckedAt >= CHAIN_RECHECK_MS)
    ) {
      const res = await this.#audit.verify();
      this.#chainCheckedAt = now;
      this.#chainCheckedSeq = this.#next - 1;
      this.#chain = {
        ok: res.ok,
        entries: res.entries,
        checkedAt: new Date(now).toISOString(),
        ...(res.firstBad !== undefined ? { firstBad: res.firstBad } : {}),
      };
    }
  }

  #add(e: AuditEntry): void {
    const v = entryView(e);
    this.#recent.push(v);
    if (this.#recent.length > RECENT) this.#recent.shift();
    if (e.migration === undefined) return;
    const list = this.#byMigration.get(e.migration) ?? [];
    list.push(v);
    if (list.length > PER_MIGRATION) list.shift();
    this.#byMigration.set(e.migration, list);
    if (e.command === 'verify') this.#lastVerify.set(e.migration, v);
    if (e.command === 'backfill' && e.outcome === 'started' && e.params !== undefined)
      this.#startedWith.set(e.migration, e.params);
    if (e.command === 'chaos' && e.params !== undefined)
      this.#chaos.set(e.migration, {
        job: String(e.params.job),
        spec: String(e.params.spec),
        seed: Number(e.params.seed),
        actor: e.actor,
        at: e.at,
      });
  }

  get chain(): AuditChainView {
    return this.#chain;
  }

  /** The newest entries, newest first. */
  recent(limit = 50): AuditEntryView[] {
    return this.#recent.slice(-limit).reverse();
  }

  /** A migration's newest entries, newest first. */
  forMigration(id: string): AuditEntryView[] {
    return [...(this.#byMigration.get(id) ?? [])].reverse();
  }

  lastVerify(id: string): AuditEntryView | undefined {
    return this.#lastVerify.get(id);
  }

  startedWith(id: string): Record<string, unknown> | undefined {
    return this.#startedWith.get(id);
  }

  /** The newest job of this migration run under chaos. */
  chaos(id: string): ChaosView | undefined {
    return this.#chaos.get(id);
  }
}
