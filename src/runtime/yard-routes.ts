/**
 * The routes of a yard (yard.ts): per side-by-side migration of the project, its two sides (the
 * target opened once per `target.store` URL) and its counting machinery, and the metrics each
 * route's counters feed.
 */
import { targetCollection } from '../engine/mapped-target.js';
import type { Stage } from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { RuntimeMetrics } from '../observe/runtime-metrics.js';
import type { Collection, Store } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import { RuntimeCounters } from './counters.js';
import { RevCache } from './dual-write.js';
import { KeyQueue } from './key-queue.js';
import { RepairQueue } from './repair-queue.js';
import { Shadow } from './shadow.js';
import type { SplitTarget } from './split-targets.js';
import type { Route } from './yard-collection.js';
import type { YardOptions, YardProject } from './yard.js';

/** A side-by-side migration the yard routes. */
export interface Known {
  readonly migration: Migration;
  readonly route: Omit<Route, 'state'>;
}

/** The project's migrations, with a route for each side-by-side one. */
export interface ProjectRoutes {
  /** every migration of the project */
  readonly all: Migration[];
  readonly known: Known[];
  /** every migration of each collection, in place and side by side (for readAs) */
  readonly chains: Map<string, Migration[]>;
  /** the target stores opened, one per URL */
  readonly targets: Store[];
}

/**
 * Read the project's migrations and build their routes, opening each target store once. On a
 * failure the stores opened so far are closed before the error is thrown.
 */
export async function openRoutes(
  project: YardProject,
  options: YardOptions & { cwd?: string },
): Promise<ProjectRoutes> {
  const targets = new Map<string, Store>();
  const known: Known[] = [];
  const chains = new Map<string, Migration[]>();
  let all: Migration[] = [];
  try {
    all = await project.migrations();
    for (const m of all) {
      chains.set(m.collection, [...(chains.get(m.collection) ?? []), m]);
      if (m.target === undefined) continue;
      let store = project.store;
      const url = m.target.store;
      if (url !== undefined) {
        if (!targets.has(url))
          targets.set(url, await openStore(url, { baseDir: options.cwd ?? process.cwd() }));
        store = targets.get(url)!;
      }
      known.push({
        migration: m,
        route: newRoute(
          project,
          m,
          project.store.collection(m.collection),
          targetCollection(m, store, { keepUnmapped: false }),
          options,
          m.extraTargets.map((t) => ({
            m: t,
            collection: targetCollection(t, store, { keepUnmapped: false }),
          })),
        ),
      });
    }
  } catch (err) {
    for (const s of targets.values()) await s.close();
    throw err;
  }
  return { all, known, chains, targets: [...targets.values()] };
}

/** What the runtime keeps per side-by-side migration: its sides and its counting machinery. */
export function newRoute(
  project: YardProject,
  m: Migration,
  old: Collection,
  neu: Collection,
  options: YardOptions,
  more: readonly SplitTarget[] = [],
): Omit<Route, 'state'> {
  const counters = new RuntimeCounters();
  return {
    migration: m,
    ...(more.length > 0 ? { more } : {}),
    old,
    new: neu,
    repairs: new RepairQueue(project.stateStore, m.id),
    shadow: new Shadow(options, counters, project.store),
    counters,
    order: new KeyQueue(),
    revs: new RevCache(),
    // up() reads a lookups migration's other collections here, per call (lookup-context.ts)
    lookups: project.store,
  };
}

/**
 * Feed a migration's counters to the prom-client metrics, labelled with its stage at each call
 * (`stageOf`).
 */
export function meterRoute(
  k: Known,
  metrics: RuntimeMetrics,
  stageOf: (migrationId: string) => Stage,
): void {
  const migration = k.migration.id;
  k.route.counters.listener = {
    call: (side, op, ms, failed) =>
      metrics.recordCall({ migration, side, stage: stageOf(migration), op, ms, failed }),
    compare: (o) =>
      metrics.recordComparison({
        migration,
        stage: stageOf(migration),
        mismatched: !o.matched,
        candidateError: o.candidateError !== undefined,
        discarded: o.discarded === true,
      }),
    fallback: (reason, keys) =>
      metrics.recordFallback({ migration, stage: stageOf(migration), reason, keys }),
  };
}
