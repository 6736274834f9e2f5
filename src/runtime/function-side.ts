/**
 * One side of a migration reached through the application's own functions (`yard.migration`):
 * `read(key)`, `write(key, doc)`, `remove(key)`, shaped as a store Collection so that the one
 * routing core (yard-collection.ts, dual-write.ts, shadow.ts, fallback.ts, repair-queue.ts) serves
 * both the application's functions and Switchyard's adapters. Any client works: the functions are
 * the application's.
 *
 * Rules:
 * - `get`/`getMany` call `read` once per key (at once); `null` or `undefined` is an absent
 *   document. A document's rev is the hash of its canonical content (core/values.ts
 *   `contentHash`), so any change by any writer is a change of rev, and equal content is equal rev;
 * - a write calls `write(key, doc)` or `remove(key)` (a delete without `remove` is an InputError
 *   naming the missing function, before anything is written). A conditional op (`ifRev`) reads
 *   the key first and conflicts when the content is not the one the rev stands for: a check then
 *   a write, NOT atomic. Within a process the runtime orders the writes of a key itself
 *   (key-queue.ts), so this matters only for writers in several processes: there, two writes of
 *   one key a few milliseconds apart can still land out of order on the secondary side and leave
 *   it stale, which shadow reads and the repair drain see and fix. Adapters' sides have no such
 *   gap (their conditions are checked by the store);
 * - the functions' own errors pass through unchanged (the runtime counts them, and a failing
 *   secondary write queues the key for repair);
 * - scan, split and count are not available (an InputError): `query()`, the backfill and verify
 *   need a store Switchyard can read; the runtime does not.
 */
import { InputError } from '../core/errors.js';
import { contentHash, type Doc } from '../core/values.js';
import type {
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  ScanPage,
  StoredDoc,
  WriteOp,
  WriteResult,
} from '../store/contract.js';

/** What the application gives for one side. */
export interface SideFunctions {
  read(key: Key): Promise<Doc | null | undefined>;
  write(key: Key, doc: Doc): Promise<unknown>;
  remove?(key: Key): Promise<unknown>;
}

const NONE: CollectionCapabilities = Object.freeze({
  orderedScan: false,
  changeFeed: false,
  atomicBatch: false,
});

export class FunctionSide implements Collection {
  readonly capabilities = NONE;

  constructor(
    /** `<migration id>:old` or `:new`, for messages */
    readonly name: string,
    readonly fns: SideFunctions,
    /** the option names of the functions, for messages (`readOld`, `writeOld`, `deleteOld`) */
    readonly names: { read: string; write: string; remove: string },
  ) {}

  async get(key: Key): Promise<StoredDoc | null> {
    const doc = await this.fns.read(key);
    return doc === null || doc === undefined ? null : { key, doc, rev: contentHash(doc) };
  }

  getMany(keys: readonly Key[]): Promise<(StoredDoc | null)[]> {
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async write(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    if (this.fns.remove === undefined && ops.some((op) => op.type === 'delete'))
      throw new InputError(
        `deleting from ${this.name} needs the application's ${this.names.remove}(key) function`,
        { field: this.names.remove },
      );
    const out: WriteResult[] = [];
    for (const op of ops) {
      if (op.ifRev !== undefined) {
        const current = (await this.get(op.key))?.rev ?? null;
        if (current !== op.ifRev) {
          out.push({ key: op.key, ok: false, reason: 'conflict', currentRev: current });
          continue;
        }
      }
      if (op.type === 'delete') {
        await this.fns.remove!(op.key);
        out.push({ key: op.key, ok: true, rev: null });
      } else {
        await this.fns.write(op.key, op.doc);
        out.push({ key: op.key, ok: true, rev: contentHash(op.doc) });
      }
    }
    return out;
  }

  scan(): Promise<ScanPage> {
    return Promise.reject(this.#cannot('scanned'));
  }

  split(): Promise<Range[]> {
    return Promise.reject(this.#cannot('split'));
  }

  count(): Promise<number> {
    return Promise.reject(this.#cannot('counted'));
  }

  #cannot(what: string): InputError {
    return new InputError(
      `${this.name} is reached through the application's functions and cannot be ${what}: query(), backfill and verify need a store Switchyard can read`,
    );
  }
}
