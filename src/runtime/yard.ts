/**
 * `connect()`: the runtime an application reads and writes through while a side-by-side
 * migration moves its data (DESIGN.md section 5).
 *
 *   const yard = await connect({ store: 'sqlite:./app.db', migrationsDir: './migrations' });
 *   const users = yard.collection('users');
 *   await users.put({ _id: 'u1', name: 'Ada Lovelace' });
 *   const doc = await users.get('u1', { readAs: 2 });
 *
 * Rules:
 * - the yard knows the migrations of the project; for the side-by-side ones, the source
 *   (`migration.collection` on the data store) and the target (`target.collection` on the data
 *   store, or on `openStore(target.store)`, opened once per URL and closed by `close()`);
 * - the routes (each migration's sides and counting machinery) are built in yard-routes.ts;
 * - it caches each migration's stage from the catalog (`sideBySideState`) and reads it again every
 *   `refreshMs` (default 1000; an unref'ed timer, so it never keeps the process alive) and on
 *   `refresh()`. A failed periodic refresh keeps the last stage and goes to `onError`;
 * - a collection follows the last of its migrations (in the project's order) whose stage is not
 *   off; with none, it reads and writes the collection as is (yard-collection.ts has the rules);
 *   `readAs` casts along every migration of the collection, in-place ones included
 *   (version-chain.ts); with `validate` (here, or per collection) a put that fails a migration's
 *   invariants or JSON Schema is refused before anything is written;
 * - a collection that is a merge's secondary source re-derives that merge's target document of
 *   the key it writes (merge-follow.ts);
 * - `migration(id, { readOld, readNew, writeOld, writeNew, ... })` is the same runtime around the
 *   application's own functions (app-migration.ts), counted with the collection of the same id;
 * - in live, a key the new side lacks or fails to read is answered by the old side (fallback.ts;
 *   `fallback: false` turns it off);
 * - every call on either side is counted (reads, writes, errors, latency, fallbacks) and, with the
 *   shadow comparisons, published to the state store every `publishMs` (default 5000) and on `publish()`
 *   (counters.ts), so gates and the dashboard see every instance;
 * - `stats()` is the shadow comparisons' MismatchSnapshot per migration id; `idle()` waits for
 *   the comparisons under way; `close()` stops the timers, waits for them, publishes the last
 *   counts and closes what the yard opened (the project too, unless it was passed in).
 */
import { parseChaos, type ChaosSpec } from '../store/chaos-spec.js';
import type { ResolvedConfig } from '../config/config-schema.js';
import { DEFAULT_KEY_FIELD } from '../core/keys.js';
import { INITIAL_STATE, sideBySideState, Stage, type SideBySideState } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import { Project } from '../project.js';
import type { Catalog } from '../state/catalog.js';
import type { Store } from '../store/contract.js';
import { DEFAULT_PUBLISH_MS, newInstanceId } from './counters.js';
import { Publisher } from './publisher.js';
import type { MismatchSnapshot } from './experiment.js';
import type { Registry } from 'prom-client';
import { createRuntimeMetrics, type RuntimeMetrics } from '../observe/runtime-metrics.js';
import { RevCache } from './dual-write.js';
import { VersionChain } from './version-chain.js';
import {
  AppMigration,
  functionSides,
  resolveMigration,
  type MigrationFunctions,
} from './app-migration.js';
import type { ShadowOptions } from './shadow.js';
import { YardCollection, type BackgroundErrorSink } from './yard-collection.js';
import { meterRoute, newRoute, openRoutes, type Known, type ProjectRoutes } from './yard-routes.js';

export const DEFAULT_REFRESH_MS = 1000;

/** What the yard needs of a project (a `Project` is one). */
export interface YardProject {
  readonly store: Store;
  readonly stateStore: Store;
  readonly catalog: Catalog;
  migrations(): Promise<Migration[]>;
  close?(): Promise<void>;
}

export interface YardOptions extends ShadowOptions {
  /** how often the stages are read from the catalog, ms (default 1000; 0: only on refresh()) */
  refreshMs?: number;
  /** the field documents are keyed by (default `_id`) */
  keyField?: string;
  /** where background failures go: periodic refreshes, repair-queue writes, publishing */
  onError?: BackgroundErrorSink;
  /** how often the counters are published to the state store, ms (default 5000; 0: only on publish()) */
  publishMs?: number;
  /** this process's name in the published counters (default host:pid:random) */
  instanceId?: string;
  /** the prom-client registry metricsRegistry() fills (default: a registry of the yard's own) */
  metricsRegistry?: Registry;
  /**
   * in live, answer from the old side a key the new side does not have or fails to read
   * (default true; fallback.ts has the rules)
   */
  fallback?: boolean;
  /**
   * check every put against the invariants and JSON Schema of the collection's migrations and
   * refuse one that fails, writing nothing (default false; `collection(name, { validate })`
   * decides per collection)
   */
  validate?: boolean;
}

export interface CollectionOptions {
  /** check puts against the migrations' invariants and schemas (default: connect()'s `validate`) */
  validate?: boolean;
}

export type ConnectOptions = YardOptions &
  (
    | {
        store?: string;
        config?: ResolvedConfig;
        migrationsDir?: string;
        cwd?: string;
        /**
         * faults to inject into the data store, to rehearse the application's side (the
         * `--chaos` syntax, store/chaos-spec.ts); refused on a store the config marks production
         */
        chaos?: string | ChaosSpec;
        /** the seed of a `chaos` given as text (default: drawn at random) */
        chaosSeed?: number;
      }
    | { project: YardProject }
  );

export class Yard {
  readonly #project: YardProject;
  readonly #owned: boolean;
  readonly #known: Known[];
  /** every migration of the project */
  readonly #migrations: readonly Migration[];
  /** the handles of yard.migration(), per migration id */
  readonly #apps = new Map<string, Promise<AppMigration>>();
  /** every migration of each collection, in place and side by side (for readAs) */
  readonly #chains: ReadonlyMap<string, readonly Migration[]>;
  readonly #targets: readonly Store[];
  readonly #options: YardOptions;
  readonly #states = new Map<string, SideBySideState>();
  readonly #collections = new Map<string, YardCollection>();
  readonly #instance: string;
  readonly #metrics: RuntimeMetrics;
  #timer: ReturnType<typeof setInterval> | undefined;
  #publishTimer: ReturnType<typeof setInterval> | undefined;
  readonly #publisher: Publisher;

  private constructor(
    project: YardProject,
    owned: boolean,
    known: Known[],
    chains: ReadonlyMap<string, readonly Migration[]>,
    targets: Store[],
    options: YardOptions,
    migrations: readonly Migration[],
  ) {
    this.#project = project;
    this.#owned = owned;
    this.#known = known;
    this.#chains = chains;
    this.#targets = targets;
    this.#options = options;
    this.#instance = options.instanceId ?? newInstanceId();
    this.#publisher = new Publisher(project.stateStore, this.#instance, this.#known, (id) =>
      this.stage(id),
    );
    this.#metrics = createRuntimeMetrics(options.metricsRegistry);
    this.#migrations = migrations;
    for (const k of known) this.#listen(k);
  }

  /** Feed a migration's counters to the prom-client metrics (yard-routes.ts). */
  #listen(k: Known): void {
    meterRoute(k, this.#metrics, (id) => this.stage(id).stage);
  }

  /**
   * The prom-client registry with this process's runtime metrics (reads, writes, errors and
   * latency per migration, side and stage; shadow comparisons and mismatches), for the
   * application's own /metrics endpoint: `res.end(await yard.metricsRegistry().metrics())`.
   */
  metricsRegistry(): Registry {
    return this.#metrics.registry;
  }

  /** @internal use connect() */
  static async create(
    project: YardProject,
    owned: boolean,
    options: YardOptions & { cwd?: string },
  ): Promise<Yard> {
    let routes: ProjectRoutes;
    try {
      routes = await openRoutes(project, options);
    } catch (err) {
      if (owned) await project.close?.();
      throw err;
    }
    const { all, known, chains, targets } = routes;
    const yard = new Yard(project, owned, known, chains, targets, options, all);
    await yard.refresh().catch(async (err: unknown) => {
      await yard.close();
      throw err;
    });
    const every = options.refreshMs ?? DEFAULT_REFRESH_MS;
    if (every > 0) {
      yard.#timer = setInterval(() => {
        yard
          .refresh()
          .catch((err: unknown) =>
            yard.#options.onError?.(err as Error, { migration: '', key: '', what: 'refresh' }),
          );
      }, every);
      yard.#timer.unref?.();
    }
    yard.#startPublishing();
    return yard;
  }

  /** Publish every `publishMs` once there is a migration to publish for (idempotent). */
  #startPublishing(): void {
    const every = this.#options.publishMs ?? DEFAULT_PUBLISH_MS;
    if (every <= 0 || this.#known.length === 0 || this.#publishTimer !== undefined) return;
    this.#publishTimer = setInterval(() => {
      this.publish().catch((err: unknown) =>
        this.#options.onError?.(err as Error, { migration: '', key: '', what: 'publish' }),
      );
    }, every);
    this.#publishTimer.unref?.();
  }

  /**
   * Write what this process counted since the last publish to the state store (counters.ts), one
   * document per migration that saw traffic; prune old documents now and then. A failed write
   * keeps its counts for the next publish.
   */
  publish(): Promise<void> {
    return this.#publisher.publish();
  }

  /** Read every migration's stage from the catalog now. */
  async refresh(): Promise<void> {
    const entries = await Promise.all(
      this.#known.map((k) => this.#project.catalog.get(k.migration.id)),
    );
    this.#known.forEach((k, i) => this.#states.set(k.migration.id, sideBySideState(entries[i])));
  }

  /** The cached stage of a migration (off when the yard does not know it). */
  stage(migrationId: string): SideBySideState {
    return this.#states.get(migrationId) ?? INITIAL_STATE;
  }

  collection(name: string, options: CollectionOptions = {}): YardCollection {
    const validate = options.validate ?? this.#options.validate ?? false;
    const cacheKey = `${validate ? 'v' : '-'}${name}`;
    let c = this.#collections.get(cacheKey);
    if (c === undefined) {
      const mine = this.#known.filter((k) => k.migration.collection === name);
      // the merges this collection is a secondary source of (merge-follow.ts)
      const merges = this.#known.filter((k) =>
        k.migration.merge.some((s) => s.collection === name),
      );
      c = new YardCollection(
        name,
        this.#project.store.collection(name),
        () => {
          if (mine.length === 0) return undefined;
          let pick = mine.at(-1)!;
          for (let i = mine.length - 1; i >= 0; i--) {
            if (this.stage(mine[i]!.migration.id).stage !== Stage.off) {
              pick = mine[i]!;
              break;
            }
          }
          return { ...pick.route, state: this.stage(pick.migration.id) };
        },
        new VersionChain(name, this.#chains.get(name) ?? []),
        {
          keyField: this.#options.keyField ?? DEFAULT_KEY_FIELD,
          onError: this.#options.onError ?? (() => {}),
          fallback: this.#options.fallback ?? true,
          validate,
          ...(merges.length > 0
            ? {
                followers: () =>
                  merges.map((k) => ({ ...k.route, state: this.stage(k.migration.id) })),
              }
            : {}),
        },
      );
      this.#collections.set(cacheKey, c);
    }
    return c;
  }

  /**
   * The side-by-side runtime around the application's own functions for migration `id`
   * (app-migration.ts has the rules): the same stages, counters, shadow reads and repairs as
   * `collection()`, with reads and writes made by `readOld`/`readNew`/`writeOld`/`writeNew`.
   */
  migration(id: string, fns: MigrationFunctions): Promise<AppMigration> {
    let handle = this.#apps.get(id);
    if (handle === undefined) {
      handle = this.#newApp(id, fns);
      this.#apps.set(id, handle);
      handle.catch(() => this.#apps.delete(id));
    }
    return handle;
  }

  async #newApp(id: string, fns: MigrationFunctions): Promise<AppMigration> {
    const m = resolveMigration(id, fns, this.#migrations);
    const sides = functionSides(id, fns);
    let k = this.#known.find((x) => x.migration.id === id);
    if (k === undefined) {
      k = { migration: m, route: newRoute(this.#project, m, sides.old, sides.new, this.#options) };
      this.#known.push(k);
      this.#listen(k);
      this.#states.set(id, sideBySideState(await this.#project.catalog.get(id)));
      this.#startPublishing();
    }
    // the project's route of the same id: its counters, shadow, queue and key order, these sides
    const route = { ...k.route, old: sides.old, new: sides.new, revs: new RevCache() };
    const chain = this.#chains.get(m.collection) ?? [m];
    return new AppMigration(
      id,
      sides.old,
      () => ({ ...route, state: this.stage(id) }),
      new VersionChain(m.collection, chain),
      {
        keyField: this.#options.keyField ?? DEFAULT_KEY_FIELD,
        onError: this.#options.onError ?? (() => {}),
        fallback: this.#options.fallback ?? true,
        validate: fns.validate ?? this.#options.validate ?? false,
      },
    );
  }

  /** The shadow comparisons so far, per migration id. */
  stats(): Readonly<Record<string, MismatchSnapshot>> {
    return Object.fromEntries(
      this.#known.map((k) => [k.migration.id, k.route.shadow.counter.snapshot()]),
    );
  }

  /** Resolves when every shadow comparison started so far has been recorded. */
  async idle(): Promise<void> {
    await Promise.all(this.#known.map((k) => k.route.shadow.idle()));
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#publishTimer !== undefined) clearInterval(this.#publishTimer);
    this.#timer = this.#publishTimer = undefined;
    await this.idle();
    if (this.#known.length > 0)
      await this.publish().catch((err: unknown) =>
        this.#options.onError?.(err as Error, { migration: '', key: '', what: 'publish' }),
      );
    for (const s of this.#targets) await s.close();
    if (this.#owned) await this.#project.close?.();
  }
}

export async function connect(options: ConnectOptions = {}): Promise<Yard> {
  if ('project' in options) return Yard.create(options.project, false, options);
  const project = await Project.open({
    ...(options.store !== undefined ? { store: options.store } : {}),
    ...(options.config !== undefined ? { config: options.config } : {}),
    ...(options.migrationsDir !== undefined ? { migrationsDir: options.migrationsDir } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.chaos !== undefined
      ? {
          chaos:
            typeof options.chaos === 'string'
              ? parseChaos(options.chaos, options.chaosSeed, 'chaos')
              : options.chaos,
        }
      : {}),
  });
  try {
    await project.recordChaos(undefined, 'runtime');
  } catch (err) {
    await project.close();
    throw err;
  }
  return Yard.create(project, true, options);
}
