/**
 * `yard.migration(id, { readOld, readNew, writeOld, writeNew, deleteOld, deleteNew })`: the
 * side-by-side runtime around the application's own read and write functions, for any client
 * (after LaunchDarkly's migration SDK, which takes the four functions, and github/scientist,
 * which compares a candidate path with the control).
 *
 *   const users = await yard.migration('users-v2', {
 *     readOld: (id) => oldRepo.find(id),      writeOld: (id, doc) => oldRepo.save(id, doc),
 *     readNew: (id) => newRepo.find(id),      writeNew: (id, doc) => newRepo.save(id, doc),
 *     deleteOld: (id) => oldRepo.remove(id),  deleteNew: (id) => newRepo.remove(id),
 *   });
 *   await users.put({ _id: 'u1', name: 'Ada Lovelace' });
 *   const u = await users.get('u1', { readAs: 1 });
 *
 * Rules:
 * - the handle is a YardCollection whose two sides are the functions (function-side.ts), so every
 *   rule of the routing core holds unchanged: the stage read from the catalog (`switchyard stage`,
 *   `advance --auto`), the authoritative side first, the other side after it in a per-key order,
 *   a failed secondary write queued for repair, shadow reads of up(old) against readNew compared
 *   by field path in the background, a sticky live percent per key, fallback in live, `readAs`;
 * - the migration is the project's migration `id` (its up/down, versions, verify), or the
 *   `migration` option (a definition or a compiled Migration) when the project has none; it must
 *   be side by side (a `target`), since stages apply only to those. An unknown id, an in-place
 *   migration or a missing function is an InputError naming it;
 * - it counts into the same counters as `yard.collection` for that migration id (one set per id,
 *   published to the state store), so gates, `status`, the dashboard and /metrics see the
 *   application's functions exactly as they see Switchyard's adapters;
 * - `repair()` drains the migration's repair queue through the functions (repair-queue.ts
 *   `drainQueue`): the side that holds the truth is read, the other rewritten;
 * - one handle per id and yard: a second call returns the first handle (its functions).
 */
import { InputError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import type { MigrationDefinition } from '../migration/define-migration.js';
import { compileMigration } from '../migration/load-migrations.js';
import { Migration } from '../migration/migration.js';
import type { Key } from '../store/contract.js';
import { FunctionSide } from './function-side.js';
import { drainQueue, type DrainResult } from './repair-queue.js';
import { YardCollection } from './yard-collection.js';

export interface MigrationFunctions {
  readOld(key: Key): Promise<Doc | null | undefined>;
  readNew(key: Key): Promise<Doc | null | undefined>;
  writeOld(key: Key, doc: Doc): Promise<unknown>;
  writeNew(key: Key, doc: Doc): Promise<unknown>;
  /** needed for delete() (and for repairs of deletes) */
  deleteOld?(key: Key): Promise<unknown>;
  deleteNew?(key: Key): Promise<unknown>;
  /** the migration, when the project has none with this id */
  migration?: Migration | (MigrationDefinition & { id?: string });
  /** check puts against the migration's invariants and JSON Schema (default: connect()'s) */
  validate?: boolean;
}

const REQUIRED = ['readOld', 'readNew', 'writeOld', 'writeNew'] as const;

/** The handle `yard.migration()` returns. */
export class AppMigration extends YardCollection {
  /** The migration this handle runs (its versions, its version field). */
  get migration(): Migration {
    return this.route()!.migration;
  }

  /** Drain the repair queue through the application's functions (at most `limit` entries). */
  async repair(limit?: number): Promise<DrainResult> {
    const r = this.route();
    if (r === undefined) return { repaired: 0, failed: 0, skipped: 0, errors: [] };
    return drainQueue(
      r.repairs,
      r.migration,
      r.state.stage,
      { old: r.old, new: r.new },
      limit,
      r.lookups,
    );
  }
}

/** The two sides of `id` as the application's functions, after checking they are all there. */
export function functionSides(
  id: string,
  fns: MigrationFunctions,
): { old: FunctionSide; new: FunctionSide } {
  for (const name of REQUIRED)
    if (typeof fns[name] !== 'function')
      throw new InputError(`yard.migration('${id}') needs a function ${name}`, { field: name });
  return {
    old: new FunctionSide(
      `${id}:old`,
      { read: fns.readOld, write: fns.writeOld, ...withRemove(fns.deleteOld) },
      { read: 'readOld', write: 'writeOld', remove: 'deleteOld' },
    ),
    new: new FunctionSide(
      `${id}:new`,
      { read: fns.readNew, write: fns.writeNew, ...withRemove(fns.deleteNew) },
      { read: 'readNew', write: 'writeNew', remove: 'deleteNew' },
    ),
  };
}

function withRemove(fn: ((key: Key) => Promise<unknown>) | undefined) {
  return fn === undefined ? {} : { remove: fn };
}

/** The migration of `yard.migration(id)`: the option's, else the project's (header rules). */
export function resolveMigration(
  id: string,
  fns: MigrationFunctions,
  projectMigrations: readonly Migration[],
): Migration {
  const given = fns.migration;
  const m =
    given === undefined
      ? projectMigrations.find((x) => x.id === id)
      : given instanceof Migration
        ? given
        : compileMigration({ ...given, id: given.id ?? id });
  if (m === undefined)
    throw new InputError(
      `yard.migration('${id}'): the project has no migration '${id}'; pass its definition as the \`migration\` option or add it to the migrations directory`,
      { field: 'id' },
    );
  if (m.id !== id)
    throw new InputError(`yard.migration('${id}'): the migration given is '${m.id}'`, {
      field: 'migration',
    });
  if (m.target === undefined)
    throw new InputError(
      `yard.migration('${id}'): '${id}' is an in-place migration; the runtime's stages need a side-by-side one (a \`target\`)`,
      { field: 'migration' },
    );
  if (m.keyMapping !== undefined)
    throw new InputError(
      `yard.migration('${id}'): '${id}' maps keys to the target (target.key), and the application's own read/write functions (and the DocumentClient and ioredis wrappers) address the target by the source key; use yard.collection('${m.collection}') for it`,
      { field: 'target.key' },
    );
  return m;
}
