/**
 * A project: the data store, the state store, the migrations directory and the control plane
 * (catalog + audit log) opened together. The CLI is a thin shell over this; applications and
 * scripts use it directly:
 *
 *   const project = await Project.open({ store: 'sqlite:./app.db', migrationsDir: './migrations' });
 *   const m = await project.migration('20261120-split-name');
 *   const report = await plan(project.store, m, { sample: 500 });
 */
import { DEFAULT_ERROR_BUDGET_THRESHOLD } from './engine/error-budget.js';
import path from 'node:path';
import type { ResolvedConfig } from './config/config-schema.js';
import {
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_STORE_URL,
  DEFAULT_VERSION_FIELD,
} from './config/config-schema.js';
import { loadConfig } from './config/load-config.js';
import { DEFAULT_COMPATIBILITY } from './migration/compatibility-mode.js';
import { findMigration, loadMigrations } from './migration/load-migrations.js';
import type { Migration } from './migration/migration.js';
import { resolveActor } from './state/actor.js';
import { AuditLog, type AuditEntry, type AuditInput } from './state/audit-log.js';
import { Catalog, type CatalogEntry } from './state/catalog.js';
import { InputError } from './core/errors.js';
import type { ChaosSpec } from './store/chaos-spec.js';
import type { Store } from './store/contract.js';
import { FaultyStore } from './store/faulty-store.js';
import { openStore } from './store/open-store.js';
import { redactUrl } from './store/store-url.js';

export interface ProjectOptions {
  /** the data store URL (default: the config's, else sqlite:./switchyard.db) */
  store?: string;
  /** the state store URL (default: the config's, else the data store) */
  state?: string;
  /** the migrations directory (default: the config's, else ./migrations) */
  migrationsDir?: string;
  versionField?: string;
  /** a config already loaded, or a directory to look for one in (default: cwd) */
  config?: ResolvedConfig;
  cwd?: string;
  /** the config file to load (else switchyard.config.* in cwd) */
  configFile?: string;
  /** who acts (default $SWITCHYARD_ACTOR, else the OS user) */
  actor?: string;
  /**
   * faults to inject into the data store (`--chaos`; the state store is spared); refused when
   * the config marks this store as production
   */
  chaos?: ChaosSpec;
}

/** `--chaos` on a store the config marks `production: true`. Nothing was opened. */
export class ChaosRefusedError extends InputError {
  override readonly code = 'E_CHAOS_REFUSED';
}

/** The config's change control: compatibility modes, consumers, approvals, change windows. */
export type ChangePolicy = Pick<
  ResolvedConfig,
  'compatibility' | 'collections' | 'approvals' | 'windows' | 'thresholds'
>;

const DEFAULT_POLICY: ChangePolicy = {
  compatibility: DEFAULT_COMPATIBILITY,
  collections: {},
  approvals: undefined,
  windows: [],
  thresholds: [DEFAULT_ERROR_BUDGET_THRESHOLD],
};

export class Project {
  readonly store: Store;
  readonly stateStore: Store;
  readonly catalog: Catalog;
  readonly audit: AuditLog;
  readonly migrationsDir: string;
  readonly versionField: string;
  readonly actor: string;
  readonly policy: ChangePolicy;
  /** the faults injected into `store` (`--chaos`), with their counts so far */
  readonly chaos: { spec: ChaosSpec; store: FaultyStore } | undefined;
  #migrations: Promise<Migration[]> | undefined;

  private constructor(
    store: Store,
    stateStore: Store,
    migrationsDir: string,
    versionField: string,
    actor: string,
    policy: ChangePolicy,
    chaos: ChaosSpec | undefined,
  ) {
    this.chaos =
      chaos !== undefined
        ? { spec: chaos, store: new FaultyStore(store, chaos.faults) }
        : undefined;
    this.store = this.chaos?.store ?? store;
    this.stateStore = stateStore;
    this.catalog = new Catalog(stateStore);
    this.audit = new AuditLog(stateStore);
    this.migrationsDir = migrationsDir;
    this.versionField = versionField;
    this.actor = actor;
    this.policy = policy;
  }

  static async open(options: ProjectOptions = {}): Promise<Project> {
    const cwd = options.cwd ?? process.cwd();
    const config =
      options.config ??
      (options.store !== undefined &&
      options.migrationsDir !== undefined &&
      options.configFile === undefined
        ? undefined
        : await loadConfig(
            cwd,
            options.configFile !== undefined ? { file: options.configFile } : {},
          ));
    const storeUrl = options.store ?? config?.store ?? DEFAULT_STORE_URL;
    const stateUrl = options.state ?? config?.state;
    if (options.chaos !== undefined && config?.production === true && storeUrl === config.store) {
      throw new ChaosRefusedError(
        `--chaos is refused: the config marks the store ${redactUrl(storeUrl)} as production; rehearse on a copy (switchyard rehearse) or another store`,
        { file: config.file, field: 'production' },
      );
    }
    const store = await openStore(storeUrl, { baseDir: cwd });
    let stateStore = store;
    if (stateUrl !== undefined && stateUrl !== storeUrl) {
      try {
        stateStore = await openStore(stateUrl, { baseDir: cwd });
      } catch (err) {
        await store.close();
        throw err;
      }
    }
    const migrationsDir = path.resolve(
      cwd,
      options.migrationsDir ?? config?.migrationsDir ?? DEFAULT_MIGRATIONS_DIR,
    );
    const versionField = options.versionField ?? config?.versionField ?? DEFAULT_VERSION_FIELD;
    const policy: ChangePolicy =
      config === undefined
        ? DEFAULT_POLICY
        : {
            compatibility: config.compatibility,
            collections: config.collections,
            approvals: config.approvals,
            windows: config.windows,
            thresholds: config.thresholds,
          };
    return new Project(
      store,
      stateStore,
      migrationsDir,
      versionField,
      resolveActor(options.actor),
      policy,
      options.chaos,
    );
  }

  /** Every migration in the directory, loaded once and checked as a set. */
  migrations(): Promise<Migration[]> {
    this.#migrations ??= loadMigrations(this.migrationsDir, { versionField: this.versionField });
    return this.#migrations;
  }

  /** One migration by id (or an unambiguous part of it). */
  async migration(id: string): Promise<Migration> {
    return findMigration(await this.migrations(), id);
  }

  /** Put a migration in the catalog (refusing a file changed after start unless forced). */
  async register(migration: Migration, options: { force?: boolean } = {}): Promise<CatalogEntry> {
    const { entry, created } = await this.catalog.register(
      {
        id: migration.id,
        collection: migration.collection,
        kind: migration.kind,
        from: migration.from,
        to: migration.to,
        checksum: migration.checksum,
        ...(migration.file !== undefined
          ? { file: path.relative(process.cwd(), migration.file) || migration.file }
          : {}),
      },
      options,
    );
    if (created) {
      await this.record({
        command: 'migration.register',
        migration: migration.id,
        params: {
          collection: migration.collection,
          from: migration.from,
          to: migration.to,
          checksum: migration.checksum,
        },
        outcome: 'ok',
      });
    }
    return entry;
  }

  /**
   * Say in the audit log (and so on the dashboard) that a job of `migration` runs under chaos:
   * the spec as given and its seed, so the run can be repeated. Nothing when there is no chaos.
   */
  async recordChaos(migration: string | undefined, job: string): Promise<void> {
    if (this.chaos === undefined) return;
    await this.record({
      command: 'chaos',
      ...(migration !== undefined ? { migration } : {}),
      params: { job, spec: this.chaos.spec.text, seed: this.chaos.spec.seed },
      outcome: 'ok',
    });
  }

  /** Append to the audit log as this project's actor. */
  record(input: Omit<AuditInput, 'actor'> & { actor?: string }): Promise<AuditEntry> {
    return this.audit.append({ ...input, actor: input.actor ?? this.actor });
  }

  async close(): Promise<void> {
    await this.store.close();
    const data = this.chaos?.store.inner ?? this.store;
    if (this.stateStore !== data) await this.stateStore.close();
  }
}
