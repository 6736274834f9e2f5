/**
 * The audit log: append-only and hash-chained. Entry n stores `prevHash` (entry n-1's hash) and
 * `hash` = sha256(prevHash + canonical form of the entry without its hash). Editing, removing or
 * reordering any entry breaks the chain at that entry, and `verify()` names it.
 *
 * Appending is safe with many writers: the entry is written with "must be absent" on key n, so two
 * writers can never both take sequence n; the loser re-reads and tries n+1. The head document
 * (last seq and hash) is only a hint that saves a scan: it is advanced after the entry is
 * written, and a head that lags behind (a crash between the two writes) is caught up by the next
 * appender, which finds the taken key and moves on.
 */
import type { Doc, Value } from '../core/values.js';
import type { Collection, Store } from '../store/contract.js';
import { redactSecrets } from '../store/store-url.js';
import { chainHash, GENESIS_HASH } from './chain-hash.js';
import { STATE_COLLECTIONS } from './state-collections.js';

export interface AuditInput {
  actor: string;
  /** the command or API call: 'backfill', 'rollback', 'migration.register', ... */
  command: string;
  migration?: string;
  reason?: string;
  params?: Record<string, unknown>;
  /** 'ok', 'failed: ...', 'refused: ...', 'paused', ... */
  outcome: string;
}

export interface AuditEntry extends AuditInput {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** the first entry whose hash or link does not match, when not ok */
  firstBad?: { seq: number; key: string; problem: string };
}

const HEAD_KEY = 'audit-head';
const SEQ_WIDTH = 12;

export function auditKey(seq: number): string {
  return String(seq).padStart(SEQ_WIDTH, '0');
}

export function hashEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, at, actor, command, migration, reason, params, outcome, prevHash } = entry;
  const body = {
    seq,
    at,
    actor,
    command,
    migration: migration ?? null,
    reason: reason ?? null,
    params: params ?? {},
    outcome,
    prevHash,
  };
  return chainHash(prevHash, body as unknown as Value);
}

/** Deep copy of params with every string passed through secret redaction. */
function scrub(v: unknown): unknown {
  if (typeof v === 'string') return redactSecrets(v);
  if (Array.isArray(v)) return v.map(scrub);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, scrub(x)]),
    );
  }
  if (v === undefined || typeof v === 'function') return null;
  return v;
}

export class AuditLog {
  readonly #log: Collection;
  readonly #meta: Collection;

  constructor(store: Store) {
    this.#log = store.collection(STATE_COLLECTIONS.audit);
    this.#meta = store.collection(STATE_COLLECTIONS.meta);
  }

  async append(input: AuditInput): Promise<AuditEntry> {
    const head = await this.#meta.get(HEAD_KEY);
    let seq = (head?.doc.seq as number | undefined) ?? 0;
    let prevHash = (head?.doc.hash as string | undefined) ?? GENESIS_HASH;
    const base = {
      actor: input.actor,
      command: input.command,
      ...(input.migration !== undefined ? { migration: input.migration } : {}),
      ...(input.reason !== undefined ? { reason: redactSecrets(input.reason) } : {}),
      params: scrub(input.params ?? {}) as Record<string, unknown>,
      outcome: redactSecrets(input.outcome),
    };
    for (;;) {
      const candidate = seq + 1;
      const draft = { ...base, seq: candidate, at: new Date().toISOString(), prevHash };
      const entry: AuditEntry = { ...draft, hash: hashEntry(draft) };
      const [res] = await this.#log.write([
        { type: 'put', key: auditKey(candidate), doc: entry as unknown as Doc, ifRev: null },
      ]);
      if (res?.ok) {
        await this.#advanceHead(candidate, entry.hash);
        return entry;
      }
      // taken by another writer (or the head lagged): step over it
      const taken = await this.#log.get(auditKey(candidate));
      seq = candidate;
      prevHash = (taken?.doc.hash as string | undefined) ?? prevHash;
    }
  }

  /** Entries in order, newest last; `limit` keeps the newest N. */
  async entries(options: { limit?: number; migration?: string } = {}): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const e of this.#scan()) {
      if (options.migration !== undefined && e.migration !== options.migration) continue;
      out.push(e);
      if (options.limit !== undefined && out.length > options.limit) out.shift();
    }
    return out;
  }

  /** Every migration id the log names. */
  async migrationIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for await (const e of this.#scan()) if (e.migration !== undefined) ids.add(e.migration);
    return ids;
  }

  async verify(): Promise<AuditVerifyResult> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let n = 0;
    for await (const e of this.#scan()) {
      n += 1;
      const key = auditKey(e.seq);
      if (e.seq !== expectedSeq)
        return {
          ok: false,
          entries: n,
          firstBad: {
            seq: expectedSeq,
            key,
            problem: `entry ${expectedSeq} is missing or out of order (found ${e.seq})`,
          },
        };
      if (e.prevHash !== prevHash)
        return {
          ok: false,
          entries: n,
          firstBad: { seq: e.seq, key, problem: 'its link to the previous entry does not match' },
        };
      const { hash, ...rest } = e;
      if (hashEntry(rest) !== hash)
        return {
          ok: false,
          entries: n,
          firstBad: { seq: e.seq, key, problem: 'its content does not match its hash (edited)' },
        };
      prevHash = hash;
      expectedSeq += 1;
    }
    const head = await this.#meta.get(HEAD_KEY);
    const headSeq = (head?.doc.seq as number | undefined) ?? 0;
    if (headSeq > n) {
      return {
        ok: false,
        entries: n,
        firstBad: {
          seq: n + 1,
          key: auditKey(n + 1),
          problem: `entry ${n + 1} is missing (the log went on to entry ${headSeq})`,
        },
      };
    }
    return { ok: true, entries: n };
  }

  /** Entries by sequence number (works on stores that scan in no particular order), up to the first gap. */
  async *#scan(): AsyncGenerator<AuditEntry> {
    for (let from = 1; ; from += 500) {
      const keys = Array.from({ length: 500 }, (_, i) => auditKey(from + i));
      for (const item of await this.#log.getMany(keys)) {
        if (item === null) return;
        yield item.doc as unknown as AuditEntry;
      }
    }
  }

  async #advanceHead(seq: number, hash: string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const head = await this.#meta.get(HEAD_KEY);
      if (((head?.doc.seq as number | undefined) ?? 0) >= seq) return;
      const [res] = await this.#meta.write([
        { type: 'put', key: HEAD_KEY, doc: { seq, hash }, ifRev: head?.rev ?? null },
      ]);
      if (res?.ok) return;
    }
  }
}
