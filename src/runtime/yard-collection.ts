/**
 * One collection as the application sees it through the yard: get/getMany/query/put/delete routed by
 * the stage of the collection's side-by-side migration (engine/stages.ts `STAGE_RULES`).
 *
 * Rules:
 * - no side-by-side migration, or its stage is off: reads and writes go to the collection as is;
 * - reads: `old` (dual-write), `old-compare-new` (shadow: old answers, a background comparison
 *   of up(old) with the target's document, see shadow.ts), `by-key` (live: the new side answers,
 *   its document as is, for keys in the live percent (sticky.ts); the others as in shadow), `new`
 *   (rampdown, complete);
 * - writes: the authoritative side first (`by-key` in live: new for keys in the live percent, old
 *   for the others); its failure, a store error or up()/down() refusing the document, fails the
 *   call. Then the other side, when the stage writes it, in an order every process agrees on
 *   (dual-write.ts: one key at a time per process, conditional writes across processes); its
 *   failure never fails the call: the key goes to the repair queue (repair-queue.ts) with the
 *   side that missed the write;
 * - with `validate`, a put is first checked against the invariants and JSON Schema of the
 *   collection's migrations (VersionChain.check): a failure refuses it whole, before either side
 *   is written (InvalidDocumentError, naming the key and each failure);
 * - a put takes either shape: a document at the migration's `to` version is the new shape (the old
 *   side gets down(doc)), any other the old shape (the new side gets up(doc)). So in rampdown the
 *   app writes the new shape and the old side gets down(doc), as STAGE_RULES says;
 * - with a key mapping (`target.key`) calls name documents by their SOURCE key at every stage
 *   (the target is read and written under up(key): engine/mapped-target.ts); a put of a document
 *   in the new shape carries its target key, which is mapped back with down();
 * - `readAs: version` casts what is read to that version with up() or down() along the chain of
 *   the collection's migrations, in place and side by side (version-chain.ts: lazy upcasting),
 *   so code written for any of its schemas can run during the migration; an unknown version is an
 *   InputError;
 * - a merge's secondary source (`merge` of another collection's migration): after each put or
 *   delete, the target document of the same key is derived again (merge-follow.ts);
 * - `query(filter)`: equality on dotted fields (store/query.ts), from the side(s) answering reads;
 *   the filter is written at one schema version (`version`), pushed to the store on the side
 *   that stores that version, matched after a cast (a scan) on the other. Without a side-by-side
 *   migration under way, a `version` makes it a scan that casts every document to that version
 *   first (an in-place backfill leaves documents at several versions); without one, the store
 *   answers it on the documents as stored.
 */
import { InputError, StoreError } from '../core/errors.js';
import { keyOfDoc } from '../core/keys.js';
import type { Doc } from '../core/values.js';
import { STAGE_RULES, Stage, type SideBySideState } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Collection, Key, StoredDoc } from '../store/contract.js';
import { dualWrite, type WriteRoute } from './dual-write.js';
import { followSecondary } from './merge-follow.js';
import type { RuntimeCounters } from './counters.js';
import type { RepairQueue, Side } from './repair-queue.js';
import { queryFallback, readWithFallback } from './fallback.js';
import type { Shadow } from './shadow.js';
import { InvalidDocumentError, VersionChain } from './version-chain.js';
import { inLivePercent } from './sticky.js';
import {
  checkFilter,
  DEFAULT_QUERY_LIMIT,
  matches,
  query,
  type EqualityFilter,
} from '../store/query.js';

/** What the yard knows about a collection's migration at the moment of a call. */
export interface Route extends WriteRoute {
  readonly migration: Migration;
  readonly state: SideBySideState;
  readonly old: Collection;
  readonly new: Collection;
  readonly repairs: RepairQueue;
  readonly shadow: Shadow;
  readonly counters: RuntimeCounters;
}

export interface ReadOptions {
  /** the schema version to return documents at */
  readAs?: number;
}

export interface QueryOptions extends ReadOptions {
  /** at most this many documents (default 1000) */
  limit?: number;
  /**
   * the schema version the filter's field names belong to (default: the version of the side
   * answering reads — the migration's `from` before rampdown, `to` from rampdown on)
   */
  version?: number;
}

export type BackgroundErrorSink = (
  err: Error,
  info: { migration: string; key: Key; what: string },
) => void;

export class YardCollection {
  constructor(
    readonly name: string,
    readonly plain: Collection,
    readonly route: () => Route | undefined,
    /** the collection's migrations, for readAs */
    readonly chain: VersionChain,
    readonly options: {
      keyField: string;
      onError: BackgroundErrorSink;
      fallback?: boolean;
      /** check every put against the migrations' invariants and schemas (version-chain.ts) */
      validate?: boolean;
      /** the routes of the merges this collection is a secondary source of (merge-follow.ts) */
      followers?: () => readonly Route[];
    },
  ) {}

  /** live answers from the old side what the new side lacks or fails to read (fallback.ts) */
  #fallsBack(r: Route): boolean {
    return r.state.stage === Stage.live && this.options.fallback !== false;
  }

  async get(key: Key, options: ReadOptions = {}): Promise<Doc | null> {
    return (await this.getMany([key], options))[0]!;
  }

  async getMany(keys: readonly Key[], options: ReadOptions = {}): Promise<(Doc | null)[]> {
    const r = this.route();
    const out: (Doc | null)[] = new Array<Doc | null>(keys.length).fill(null);
    if (r === undefined || r.state.stage === Stage.off) {
      (await this.plain.getMany(keys)).forEach((s, i) => (out[i] = s?.doc ?? null));
    } else {
      const groups: Record<Side, number[]> = { old: [], new: [] };
      keys.forEach((k, i) => groups[readSide(r, k)].push(i));
      await Promise.all(
        (['old', 'new'] as const).map(async (side) => {
          const idx = groups[side];
          if (idx.length === 0) return;
          const ks = idx.map((i) => keys[i]!);
          if (side === 'new' && this.#fallsBack(r)) {
            const fromNew = await r.counters
              .time('new', 'read', () => r.new.getMany(ks))
              .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
            const docs = await readWithFallback(r, ks, fromNew);
            idx.forEach((i, j) => (out[i] = docs[j]!));
            return;
          }
          const stored = await r.counters.time(side, 'read', () => r[side].getMany(ks));
          // before the caller gets the documents: the shadow snapshots what was read
          if (side === 'old' && STAGE_RULES[r.state.stage].reads !== 'old')
            r.shadow.observe(r.migration, r.old, r.new, ks, stored, r.state.stage);
          idx.forEach((i, j) => (out[i] = stored[j]?.doc ?? null));
        }),
      );
    }
    if (options.readAs === undefined) return out;
    return out.map((d) => (d === null ? null : this.chain.cast(d, options.readAs!)));
  }

  /**
   * The documents whose fields equal `filter` (store/query.ts), from the side(s) answering
   * reads in the current stage: old, new, or in live both, each keeping the keys it answers.
   * On a side storing the filter's version the store answers it (in SQL on SQLite, by a scan
   * elsewhere); on the other side every document is cast to that version and matched, a scan.
   * Results are in key order, cast to `readAs` when given.
   */
  async query(filter: EqualityFilter, options: QueryOptions = {}): Promise<Doc[]> {
    const limit = options.limit ?? DEFAULT_QUERY_LIMIT;
    const checked = checkFilter(filter);
    const r = this.route();
    let found: { key: Key; doc: Doc }[];
    if (r === undefined || r.state.stage === Stage.off) {
      const v = options.version;
      found =
        v === undefined
          ? await query(this.plain, filter, limit)
          : (await scanMatching(this.plain, (d) => matches(this.chain.cast(d, v), checked))).slice(
              0,
              limit,
            );
    } else {
      const m = r.migration;
      const reads = STAGE_RULES[r.state.stage].reads;
      const version = options.version ?? (reads === 'new' ? m.to : m.from);
      const sides: Side[] =
        reads === 'by-key' ? ['old', 'new'] : reads === 'new' ? ['new'] : ['old'];
      found = [];
      const got: Partial<Record<Side, StoredDoc[] | Error>> = {};
      for (const side of sides) {
        const stored = side === 'old' ? m.from : m.to;
        const answer = r.counters.time(side, 'read', () =>
          stored === version
            ? query(r[side], filter, reads === 'by-key' ? Number.MAX_SAFE_INTEGER : limit)
            : scanMatching(r[side], (d) => matches(this.chain.cast(d, version), checked)),
        );
        got[side] =
          side === 'new' && this.#fallsBack(r)
            ? await answer.catch((err: unknown) =>
                err instanceof Error ? err : new Error(String(err)),
              )
            : await answer;
      }
      const answered = (side: Side) => (got[side] instanceof Error ? [] : (got[side] ?? []));
      for (const side of sides)
        for (const g of answered(side))
          if (reads !== 'by-key' || readSide(r, g.key) === side) found.push(g);
      if (this.#fallsBack(r)) {
        const forNew = answered('old').filter((g) => readSide(r, g.key) === 'new');
        found.push(...(await queryFallback(r, forNew, got.new!)));
      }
      found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      found = found.slice(0, limit);
    }
    const docs = found.map((f) => f.doc);
    if (options.readAs === undefined) return docs;
    return docs.map((d) => this.chain.cast(d, options.readAs!));
  }

  async put(doc: Doc): Promise<void> {
    const key = keyOfDoc(doc, this.options.keyField);
    if (this.options.validate === true) {
      const failures = this.chain.check(doc);
      if (failures.length > 0) throw new InvalidDocumentError(this.name, key, failures);
    }
    const r = this.route();
    if (r === undefined || r.state.stage === Stage.off) {
      check(await this.plain.write([{ type: 'put', key, doc }]));
    } else {
      const k = sourceKeyOf(r.migration, key, doc);
      await dualWrite(r, k, { type: 'put', doc }, this.#onError(r, k));
    }
    await this.#follow(key);
  }

  async delete(key: Key): Promise<void> {
    const r = this.route();
    if (r === undefined || r.state.stage === Stage.off) {
      check(await this.plain.write([{ type: 'delete', key }]));
    } else {
      await dualWrite(r, key, { type: 'delete' }, this.#onError(r, key));
    }
    await this.#follow(key);
  }

  /** A merge's target documents of `key`, derived again after this secondary's write. */
  async #follow(key: Key): Promise<void> {
    for (const f of this.options.followers?.() ?? [])
      await followSecondary(f, key, this.#onError(f, key));
  }

  #onError(r: Route, key: Key) {
    return (err: Error, what: string) =>
      this.options.onError(err, { migration: r.migration.id, key, what });
  }
}

/**
 * The source key a put names: its own key, unless the document is in the new shape of a
 * migration with a key mapping, whose key field carries the target key (down() gives it back).
 */
function sourceKeyOf(m: Migration, key: Key, doc: Doc): Key {
  if (m.keyMapping === undefined || !m.isMigrated(doc)) return key;
  const k = m.keyMapping.toSource(key);
  if (k === undefined)
    throw new InputError(
      `put of '${key}' in the new shape of ${m.id}: no source key maps to it with target.key (down('${key}') does not map back), so nothing was written`,
      { field: 'key' },
    );
  return k;
}

/** Every document of `c` that `keep` accepts (a full scan). */
async function scanMatching(c: Collection, keep: (d: Doc) => boolean): Promise<StoredDoc[]> {
  const out: StoredDoc[] = [];
  let cursor: string | null = null;
  do {
    const page = await c.scan({ cursor, limit: 1000 });
    for (const item of page.items) if (keep(item.doc)) out.push(item);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

function readSide(r: Route, key: Key): Side {
  const reads = STAGE_RULES[r.state.stage].reads;
  if (reads === 'by-key')
    return inLivePercent(key, r.migration.id, r.state.percent) ? 'new' : 'old';
  return reads === 'new' ? 'new' : 'old';
}

function check(results: readonly { ok: boolean; key: Key }[]): void {
  const failed = results.find((x) => !x.ok);
  if (failed !== undefined) throw new StoreError(`write of '${failed.key}' was refused (conflict)`);
}

/** The document at `version`, by up() or down() of the migration (version-chain.ts). */
export function castTo(m: Migration | undefined, doc: Doc, version: number): Doc {
  return new VersionChain(m?.collection ?? '', m === undefined ? [] : [m]).cast(doc, version);
}
