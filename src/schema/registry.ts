/**
 * The schema registry: per collection and schema version, what is known of its documents' shape.
 * It lives in the state store beside the catalog (collection `_sy_schemas`), one document per
 * collection and version, with up to three slots:
 *
 *   - `inferred`:  read from documents at that version (a backfill records its `from` version
 *                  when it starts; `switchyard schema infer --save` records any);
 *   - `predicted`: what the migration that makes the version produces from sampled documents
 *                  of the version before (recorded by that backfill);
 *   - `declared`:  a JSON Schema written for the version (the migration's `verify.schema`).
 *
 * Schemas are kept as JSON text, so their Extended JSON examples come back as written (a stored
 * document would turn `{ "$oid": ... }` back into an ObjectId). Writes are conditional on the
 * rev read, so two backfills starting at once never lose each other's slot; a slot already
 * recorded is kept unless the caller replaces it on purpose.
 */
import type { Collection, Store } from '../store/contract.js';
import { STATE_COLLECTIONS } from '../state/state-collections.js';
import type { CollectionSchema } from './collection-schema.js';
import { fromJsonSchema } from './json-schema.js';

export const SchemaSlot = {
  inferred: 'inferred',
  predicted: 'predicted',
  declared: 'declared',
} as const;
export type SchemaSlot = (typeof SchemaSlot)[keyof typeof SchemaSlot];

export interface SlotRecord {
  /** when and by whom, and the migration whose backfill recorded it */
  readonly at: string;
  readonly by: string;
  readonly migration?: string;
}

export interface RegistryEntry {
  readonly collection: string;
  readonly version: number;
  readonly inferred?: CollectionSchema;
  readonly predicted?: CollectionSchema;
  /** a JSON Schema */
  readonly declared?: Record<string, unknown>;
  readonly recorded: Partial<Record<SchemaSlot, SlotRecord>>;
}

interface StoredEntry {
  collection: string;
  version: number;
  inferred?: string;
  predicted?: string;
  declared?: string;
  recorded: Partial<Record<SchemaSlot, SlotRecord>>;
}

export interface RecordOptions {
  actor: string;
  migration?: string;
  /** replace a slot already recorded (default: keep it) */
  replace?: boolean;
}

export function registryKey(collection: string, version: number): string {
  return `${collection}@v${version}`;
}

export class SchemaRegistry {
  readonly #c: Collection;

  constructor(stateStore: Store) {
    this.#c = stateStore.collection(STATE_COLLECTIONS.schemas);
  }

  async get(collection: string, version: number): Promise<RegistryEntry | null> {
    const found = await this.#c.get(registryKey(collection, version));
    return found === null ? null : decode(found.doc as unknown as StoredEntry);
  }

  /** Every entry (of one collection), by collection then version. */
  async list(collection?: string): Promise<RegistryEntry[]> {
    const out: RegistryEntry[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.#c.scan({ cursor, limit: 200 });
      for (const item of page.items) {
        const e = item.doc as unknown as StoredEntry;
        if (collection === undefined || e.collection === collection) out.push(decode(e));
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return out.sort((a, b) =>
      a.collection === b.collection ? a.version - b.version : a.collection < b.collection ? -1 : 1,
    );
  }

  /**
   * Put a schema in a slot. Returns false, changing nothing, when the slot holds one already and
   * `replace` is not set.
   */
  async record(
    collection: string,
    version: number,
    slot: SchemaSlot,
    value: CollectionSchema | Record<string, unknown>,
    options: RecordOptions,
  ): Promise<boolean> {
    const key = registryKey(collection, version);
    const stamp: SlotRecord = {
      at: new Date().toISOString(),
      by: options.actor,
      ...(options.migration !== undefined ? { migration: options.migration } : {}),
    };
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.#c.get(key);
      const base: StoredEntry = (current?.doc as unknown as StoredEntry | undefined) ?? {
        collection,
        version,
        recorded: {},
      };
      if (base[slot] !== undefined && options.replace !== true) return false;
      const next: StoredEntry = {
        ...base,
        [slot]: JSON.stringify(value),
        recorded: { ...base.recorded, [slot]: stamp },
      };
      const [res] = await this.#c.write([
        {
          type: 'put',
          key,
          doc: JSON.parse(JSON.stringify(next)),
          ifRev: current?.rev ?? null,
        },
      ]);
      if (res?.ok) return true;
    }
    return false;
  }
}

/** The schema an entry says best: from the documents, else predicted, else declared. */
export function bestSchema(entry: RegistryEntry): CollectionSchema | undefined {
  if (entry.inferred !== undefined) return entry.inferred;
  if (entry.predicted !== undefined) return entry.predicted;
  return declaredSchema(entry);
}

/** The entry's declared JSON Schema as a collection schema. */
export function declaredSchema(entry: RegistryEntry): CollectionSchema | undefined {
  if (entry.declared === undefined) return undefined;
  return fromJsonSchema(entry.declared, {
    collection: entry.collection,
    version: entry.version,
    file: `the registry (${registryKey(entry.collection, entry.version)})`,
  });
}

function decode(e: StoredEntry): RegistryEntry {
  return {
    collection: e.collection,
    version: e.version,
    ...(e.inferred !== undefined ? { inferred: JSON.parse(e.inferred) as CollectionSchema } : {}),
    ...(e.predicted !== undefined
      ? { predicted: JSON.parse(e.predicted) as CollectionSchema }
      : {}),
    ...(e.declared !== undefined
      ? { declared: JSON.parse(e.declared) as Record<string, unknown> }
      : {}),
    recorded: e.recorded ?? {},
  };
}
