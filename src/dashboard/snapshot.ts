/**
 * What the dashboard shows, read from the state store: one `DashboardSnapshot` per poll, built
 * from the catalog, the partitions (leases, checkpoints, counts), dead letters, the journal, the
 * last verify, the audit log and, for side-by-side migrations, the runtime counters, the last gate
 * and the repair queue. It is read-only: nothing here writes to any store.
 *
 * Rules:
 * - A part that cannot be read (a store error, a module not built yet) becomes a line in
 *   `errors` or `notes`; the rest of the snapshot is still built.
 * - Detail (partitions, dead letters, verify) is read only for migrations that are not settled
 *   (pending, complete and rolled-back ones show their summary), so a project with many finished
 *   migrations costs a few reads per poll.
 * - Per-partition totals are counted once per partition, in the background, and only on stores
 *   whose ranges are key intervals (`orderedScan`); elsewhere a partition's share is total / n.
 * - The docs/s series is kept here (the page gets it on connect, then appends points): one
 *   point each time a backfill publishes progress, or a dashboard job reports.
 */
import { errorMessage } from '../core/errors.js';
import {
  rollbackTarget,
  sideBySideState,
  Stage,
  STAGE_ORDER,
  transition,
} from '../engine/stages.js';
import type { Migration } from '../migration/migration.js';
import type { Project } from '../project.js';
import { RepairQueue } from '../runtime/repair-queue.js';
import { APPROVAL_ACTIONS } from '../config/config-schema.js';
import { approvalsNeeded, approvalStatus } from '../state/approvals.js';
import { MigrationStatus, type CatalogEntry } from '../state/catalog.js';
import { DeadLetters } from '../state/dead-letters.js';
import { Journal } from '../state/journal.js';
import { Partitions, type PartitionState } from '../state/partitions.js';
import type { Range } from '../store/contract.js';
import { redactUrl } from '../store/store-url.js';
import {
  HEARTBEAT_STALE_AFTER_MS,
  readHeartbeats,
  readLastGate,
  readRuntimeWindow,
  type GateReport,
  type RuntimeWindow,
  type WorkerHeartbeatDoc,
} from './adapters.js';
import type {
  ApprovalView,
  ControlView,
  DashboardSnapshot,
  GateView,
  HistoryEvent,
  MigrationView,
  PartitionView,
  ProgressView,
  RuntimeWindowView,
  SeriesPoint,
  SideBySideView,
  VerifyView,
  WorkerView,
} from './api-types.js';
import { AuditTail } from './audit-tail.js';
import type { Jobs } from './jobs.js';
import type { MigrationFiles } from './migration-files.js';

/** the window of runtime counters shown for side-by-side migrations */
export const RUNTIME_WINDOW_MS = 60_000;
/** points kept per series (15 minutes at one a second) */
const SERIES_POINTS = 900;
const DEAD_LETTER_SAMPLES = 20;
const VERIFY_SAMPLES = 10;
const SETTLED: readonly string[] = [
  MigrationStatus.pending,
  MigrationStatus.complete,
  MigrationStatus.rolledBack,
];

export interface SnapshotOptions {
  project: Project;
  files: MigrationFiles;
  /** who the dashboard's controls act as */
  actor: string;
  jobs: Jobs;
  intervalMs: number;
}

export class DashboardState {
  readonly #o: SnapshotOptions;
  readonly #audit: AuditTail;
  readonly #partitions: Partitions;
  /** partition id -> documents in its range */
  readonly #rangeCounts = new Map<string, number>();
  readonly #toCount: { id: string; collection: string; range: Range }[] = [];
  #counting = false;
  readonly #series = new Map<string, SeriesPoint[]>();
  readonly #lastPointKey = new Map<string, string>();

  constructor(options: SnapshotOptions) {
    this.#o = options;
    this.#audit = new AuditTail(options.project.stateStore, options.project.audit);
    this.#partitions = new Partitions(options.project.stateStore);
  }

  history(): HistoryEvent {
    return { series: Object.fromEntries([...this.#series].map(([k, v]) => [k, [...v]])) };
  }

  async snapshot(): Promise<DashboardSnapshot> {
    const p = this.#o.project;
    const errors: string[] = [];
    const part = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        errors.push(`${what}: ${errorMessage(err)}`);
        return undefined;
      }
    };
    const files = (await part('migration files', () => this.#o.files.all())) ?? [];
    const entries = await p.catalog.list();
    await part('audit log', () => this.#audit.refresh());
    const heartbeats =
      (await part('worker heartbeats', () => readHeartbeats(p.stateStore))) ?? new Map();

    const byId = new Map(entries.map((e) => [e.id, e]));
    const pairs: [Migration | undefined, CatalogEntry | undefined][] = files.map((m) => [
      m,
      byId.get(m.id),
    ]);
    const known = new Set(files.map((m) => m.id));
    for (const e of entries) if (!known.has(e.id)) pairs.push([undefined, e]);

    const migrations: MigrationView[] = [];
    for (const [m, e] of pairs)
      migrations.push(await this.#migration(m, e, heartbeats.get((m?.id ?? e?.id)!) ?? [], part));
    this.#recordJobPoints();
    this.#countRangesInBackground();
    return {
      generatedAt: new Date().toISOString(),
      project: {
        store: p.store.url,
        stateStore: p.stateStore.url,
        migrationsDir: p.migrationsDir,
        actor: this.#o.actor,
        intervalMs: this.#o.intervalMs,
      },
      migrations,
      audit: { chain: this.#audit.chain, recent: this.#audit.recent(50) },
      jobs: this.#o.jobs.list(),
      errors,
    };
  }

  async #migration(
    m: Migration | undefined,
    e: CatalogEntry | undefined,
    heartbeats: WorkerHeartbeatDoc[],
    part: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>,
  ): Promise<MigrationView> {
    const id = (m?.id ?? e?.id)!;
    const stateStore = this.#o.project.stateStore;
    const kind = e?.kind ?? m!.kind;
    const status = e?.status ?? MigrationStatus.pending;
    const audit = this.#audit.forMigration(id);
    const view: MigrationView = {
      id,
      collection: e?.collection ?? m!.collection,
      kind,
      from: e?.from ?? m!.from,
      to: e?.to ?? m!.to,
      status,
      ...(m?.file !== undefined ? { file: m.file } : e?.file !== undefined ? { file: e.file } : {}),
      fileChanged: m !== undefined && e !== undefined && e.checksum !== m.checksum,
      fileMissing: m === undefined,
      ...(e?.createdAt !== undefined ? { createdAt: e.createdAt } : {}),
      ...(e?.updatedAt !== undefined ? { updatedAt: e.updatedAt } : {}),
      ...(e?.startedAt !== undefined ? { startedAt: e.startedAt } : {}),
      ...(audit[0] !== undefined ? { lastAction: audit[0] } : {}),
      partitions: [],
      workers: [],
      audit,
    };
    const chaos = this.#audit.chaos(id);
    if (chaos !== undefined) view.chaos = chaos;
    if (m !== undefined) {
      const approvals = await part(`${id}: approvals`, () => approvalViews(this.#o.project, m));
      if (approvals !== undefined && approvals.length > 0) view.approvals = approvals;
    }
    if (e === undefined) {
      if (kind === 'side-by-side' && m !== undefined)
        view.sideBySide = await this.#sideBySide(m, undefined, part);
      return view;
    }
    if (e.control !== undefined) view.control = e.control as ControlView;
    const startedWith = this.#audit.startedWith(id);
    if (startedWith !== undefined) view.startedWith = startedWith;
    if (e.progress !== undefined) {
      view.progress = progressView(e.progress);
      this.#recordPoint(id, view.progress);
    }
    const settled = SETTLED.includes(status);
    if (!settled) {
      const states = await part(`${id}: partitions`, () => this.#partitions.list(id));
      if (states !== undefined) {
        view.partitions = this.#partitionViews(states, e.collection, view.progress?.total);
        view.workers = workerViews(states, heartbeats);
      }
      const dead = new DeadLetters(stateStore, id);
      const count = await part(`${id}: dead letters`, () => dead.count());
      if (count !== undefined) {
        const samples =
          count > 0
            ? ((await part(`${id}: dead letters`, () => dead.list(DEAD_LETTER_SAMPLES))) ?? [])
            : [];
        view.deadLetters = {
          count,
          samples: samples.map((d) => ({
            key: d.key,
            error: d.error,
            version: d.version,
            attempts: d.attempts,
            at: d.at,
          })),
        };
      }
      const verify = await part(`${id}: verify`, () => this.#verify(e, view.progress?.total));
      if (verify !== undefined) view.verify = verify;
    } else if (e.lastVerify !== undefined) {
      // side by side: the last cross-store verify (verify-side-by-side.ts), same fields and more
      view.verify = { ...emptyVerify(), last: e.lastVerify as VerifyView['last'] };
    }
    if (status === MigrationStatus.rollingBack) {
      const left = await part(`${id}: journal`, () => new Journal(stateStore, id).count());
      view.rollback = {
        journalLeft: left ?? null,
        // the rollback's workers publish like a backfill's (engine/runner/runner.ts)
        ...(isRecord(e.rollbackProgress) ? { progress: progressView(e.rollbackProgress) } : {}),
      };
    }
    if (e.lastRollback !== undefined)
      view.rollback = {
        ...view.rollback,
        journalLeft: view.rollback?.journalLeft ?? null,
        last: e.lastRollback as Record<string, unknown>,
      };
    if (kind === 'side-by-side') view.sideBySide = await this.#sideBySide(m, e, part);
    return view;
  }

  #partitionViews(
    states: PartitionState[],
    collection: string,
    total: number | undefined,
  ): PartitionView[] {
    const now = Date.now();
    const share = total !== undefined && states.length > 0 ? Math.ceil(total / states.length) : 0;
    const ordered = this.#o.project.store.collection(collection).capabilities.orderedScan;
    return states
      .slice()
      .sort((a, b) => a.index - b.index)
      .map((s) => {
        const counted = this.#rangeCounts.get(s.id);
        // a verify's journal or target side is not a range of this collection: total / n
        const side = (s.range as { side?: unknown }).side;
        const ofCollection = side === undefined || side === 'data' || side === 'source';
        if (
          counted === undefined &&
          ordered &&
          ofCollection &&
          !this.#toCount.some((t) => t.id === s.id)
        )
          this.#toCount.push({ id: s.id, collection, range: s.range });
        return {
          id: s.id,
          index: s.index,
          ...(typeof side === 'string' ? { side } : {}),
          scanned: s.counts.scanned,
          estimate: Math.max(counted ?? share, s.counts.scanned),
          counted: counted !== undefined,
          done: s.done,
          migrated: s.counts.migrated,
          skipped: s.counts.skipped,
          conflicts: s.counts.conflicts,
          errors: s.counts.errors,
          owner: s.owner,
          token: s.token,
          leaseMs: s.owner === null ? null : s.expiresAt - now,
        };
      });
  }

  /** Count each new partition's range once, one at a time, without holding up the snapshot. */
  #countRangesInBackground(): void {
    if (this.#counting || this.#toCount.length === 0) return;
    this.#counting = true;
    void (async () => {
      try {
        while (this.#toCount.length > 0) {
          const next = this.#toCount.shift()!;
          const n = await this.#o.project.store
            .collection(next.collection)
            .count(next.range)
            .catch(() => undefined);
          if (n !== undefined) this.#rangeCounts.set(next.id, n);
        }
      } finally {
        this.#counting = false;
      }
    })();
  }

  async #verify(e: CatalogEntry, total: number | undefined): Promise<VerifyView> {
    const states = await this.#partitions.list(`${e.id}#verify`);
    const out = emptyVerify();
    if (e.lastVerify !== undefined) out.last = e.lastVerify as VerifyView['last'];
    const paths = this.#audit.lastVerify(e.id)?.params?.paths;
    if (paths !== null && typeof paths === 'object')
      out.paths = Object.entries(paths as Record<string, number>)
        .map(([path, count]) => ({ path, count: Number(count) }))
        .sort((a, b) => b.count - a.count)
        .slice(0, 20);
    out.partitions = this.#partitionViews(states, e.collection, total);
    out.running = states.length > 0 && states.some((s) => !s.done);
    // the verify's workers publish like a backfill's (engine/runner/runner.ts)
    if (out.running && isRecord(e.verifyProgress)) out.progress = progressView(e.verifyProgress);
    for (const s of states) {
      const acc = s.data as { samples?: Partial<VerifyView['samples']> } | undefined;
      const samples = acc?.samples;
      if (samples === undefined) continue;
      for (const k of ['mismatched', 'missing', 'oldVersion', 'checks'] as const) {
        const list = out.samples[k] as unknown[];
        for (const x of (samples[k] as unknown[] | undefined) ?? [])
          if (list.length < VERIFY_SAMPLES) list.push(x);
      }
    }
    return out;
  }

  async #sideBySide(
    m: Migration | undefined,
    e: CatalogEntry | undefined,
    part: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>,
  ): Promise<SideBySideView> {
    const id = (m?.id ?? e?.id)!;
    const stateStore = this.#o.project.stateStore;
    const s = sideBySideState(e);
    const notes: string[] = [];
    const optional = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
      try {
        return await fn();
      } catch (err) {
        notes.push(`${what}: ${errorMessage(err)}`);
        return null;
      }
    };
    const runtime =
      s.stage === Stage.off || s.stage === Stage.complete
        ? null
        : await optional('runtime counters', () =>
            readRuntimeWindow(stateStore, id, RUNTIME_WINDOW_MS),
          );
    const gate = await optional('gates', () => readLastGate(stateStore, id));
    const repairQueue =
      (await part(`${id}: repair queue`, () => new RepairQueue(stateStore, id).count())) ?? 0;
    const i = STAGE_ORDER.indexOf(s.stage);
    let next: SideBySideView['next'] = null;
    if (s.stage !== Stage.complete) {
      const stage = STAGE_ORDER[i + 1]!;
      const needsPercent = stage === Stage.live;
      const decided = transition(s, stage, needsPercent ? 1 : undefined);
      const blocked = !decided.ok
        ? decided.reason
        : stage === Stage.rampdown && m !== undefined && !m.reversible
          ? 'rampdown writes the old side with down(doc), and this migration has no exact inverse'
          : m === undefined
            ? 'the migration file is missing'
            : undefined;
      next = { stage, needsPercent, ...(blocked !== undefined ? { blocked } : {}) };
    }
    const back = rollbackTarget(s);
    return {
      stage: s.stage,
      percent: s.percent,
      ...(s.changedAt !== undefined ? { changedAt: s.changedAt } : {}),
      ...(s.by !== undefined ? { by: s.by } : {}),
      target: targetView(m),
      ...(m !== undefined && m.allTargets.length > 1
        ? { targets: m.allTargets.map((t) => targetView(t)) }
        : {}),
      next,
      back: back.ok
        ? { stage: back.stage, ...(back.percent !== undefined ? { percent: back.percent } : {}) }
        : { refused: back.reason },
      runtime: runtime === null ? null : runtimeView(runtime),
      gate: gate === null ? null : gateView(gate),
      repairQueue,
      notes,
    };
  }

  #recordPoint(key: string, p: ProgressView): void {
    if (p.updatedAt === undefined) return;
    const stamp = `${p.updatedAt}|${p.done}`;
    if (this.#lastPointKey.get(key) === stamp) return;
    this.#lastPointKey.set(key, stamp);
    this.#push(key, [Math.round(Date.parse(p.updatedAt) / 100) / 10, p.rate, p.done]);
  }

  #recordJobPoints(): void {
    for (const j of this.#o.jobs.list()) {
      if (j.state !== 'running' || j.progress === undefined) continue;
      const stamp = `job${j.id}|${j.progress.done}`;
      if (this.#lastPointKey.get(j.migration) === stamp) continue;
      this.#lastPointKey.set(j.migration, stamp);
      this.#push(j.migration, [
        Math.round(Date.now() / 100) / 10,
        j.progress.rate,
        j.progress.done,
      ]);
    }
  }

  #push(key: string, point: SeriesPoint): void {
    const list = this.#series.get(key) ?? [];
    const last = list[list.length - 1];
    if (last !== undefined && point[0] <= last[0]) return;
    list.push(point);
    if (list.length > SERIES_POINTS) list.shift();
    this.#series.set(key, list);
  }
}

function emptyVerify(): VerifyView {
  return {
    paths: [],
    partitions: [],
    running: false,
    samples: { mismatched: [], missing: [], oldVersion: [], checks: [] },
  };
}

async function approvalViews(project: Project, m: Migration): Promise<ApprovalView[]> {
  const views: ApprovalView[] = [];
  for (const action of APPROVAL_ACTIONS) {
    if (!approvalsNeeded(project.policy, action)) continue;
    const s = await approvalStatus(project, m, action);
    views.push({
      action,
      required: s.required,
      approvers: [...s.approvers],
      stale: s.stale,
      ok: s.ok,
    });
  }
  return views;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object';
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function progressView(p: Record<string, unknown>): ProgressView {
  const updatedAt = typeof p.updatedAt === 'string' ? p.updatedAt : undefined;
  const at = updatedAt !== undefined ? Date.parse(updatedAt) : NaN;
  const out: ProgressView = {
    done: num(p.done) ?? 0,
    total: num(p.total) ?? 0,
    rate: num(p.rate) ?? 0,
    etaSeconds: num(p.etaSeconds) ?? null,
    ageSeconds: Number.isFinite(at) ? Math.max(0, Math.round((Date.now() - at) / 1000)) : null,
  };
  for (const k of [
    'elapsedSeconds',
    'scanned',
    'migrated',
    'skipped',
    'conflicts',
    'errors',
    'partitions',
    'partitionsDone',
    'deadLetters',
    'workers',
  ] as const) {
    const v = num(p[k]);
    if (v !== undefined) out[k] = v;
  }
  if (typeof p.paused === 'boolean') out.paused = p.paused;
  if (isRecord(p.window) && typeof p.window.open === 'boolean')
    out.window = {
      open: p.window.open,
      ...(typeof p.window.until === 'string' ? { until: p.window.until } : {}),
    };
  if (isRecord(p.sides)) out.sides = p.sides as ProgressView['sides'];
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  if (p.throttle !== null && typeof p.throttle === 'object')
    out.throttle = p.throttle as Record<string, unknown>;
  return out;
}

function workerViews(states: PartitionState[], heartbeats: WorkerHeartbeatDoc[]): WorkerView[] {
  const now = Date.now();
  const byOwner = new Map<string, { w: WorkerView; leases: number[] }>();
  const get = (owner: string, host: string | null, pid: number | null) => {
    let entry = byOwner.get(owner);
    if (entry === undefined) {
      entry = { w: { owner, host, pid, partitions: [], leaseMs: null, live: false }, leases: [] };
      byOwner.set(owner, entry);
    }
    return entry;
  };
  for (const s of states) {
    if (s.owner === null || s.done) continue;
    const entry = get(s.owner, s.host, s.pid);
    entry.w.partitions.push(s.index);
    entry.leases.push(s.expiresAt - now);
  }
  for (const h of heartbeats) {
    const age = now - h.updatedAt;
    const fresh = h.state === 'running' && age < HEARTBEAT_STALE_AFTER_MS;
    if (!fresh && !byOwner.has(h.worker)) continue;
    const { w } = get(h.worker, h.host, h.pid);
    w.heartbeatAgeMs = age;
    w.throttle = fresh ? h.throttle : null;
    w.batchLatencyMs =
      h.batchLatency.count > 0
        ? Math.round((1000 * h.batchLatency.sum) / h.batchLatency.count)
        : null;
    if (fresh) w.live = true;
  }
  return [...byOwner.values()]
    .map(({ w, leases }) => {
      const live = leases.filter((ms) => ms > 0);
      // live: its soonest expiring lease; dead: how long ago its last lease expired
      return {
        ...w,
        live: w.live || live.length > 0,
        leaseMs:
          leases.length === 0 ? null : live.length > 0 ? Math.min(...live) : Math.max(...leases),
      };
    })
    .sort((a, b) => a.owner.localeCompare(b.owner));
}

function runtimeView(r: RuntimeWindow): RuntimeWindowView {
  const side = (x: RuntimeWindow['old']) => ({
    reads: x.reads,
    writes: x.writes,
    errors: x.errors,
    p50Ms: x.p50Ms,
    p99Ms: x.p99Ms,
  });
  return {
    windowMs: r.windowMs,
    instances: r.instances,
    old: side(r.old),
    new: side(r.new),
    compared: r.compared,
    mismatched: r.mismatched,
    candidateErrors: r.candidateErrors,
    discarded: r.discarded,
    fallbacks: r.fallbacks,
    mismatchRate: r.mismatchRate,
    errorRate: r.errorRate,
    latencyRatio: r.latencyRatio,
    paths: r.paths.slice(0, 10),
    ...(typeof r.repairsPending === 'number' ? { repairsPending: r.repairsPending } : {}),
  };
}

function gateView(g: GateReport): GateView {
  return {
    at: g.at,
    passed: g.passed,
    ...(g.result !== undefined ? { result: g.result } : {}),
    windowMs: g.windowMs,
    ...(g.stage !== undefined ? { stage: g.stage } : {}),
    ...(g.percent !== undefined ? { percent: g.percent } : {}),
    checks: g.checks.map((c) => ({
      name: c.name,
      value: c.value,
      limit: c.limit,
      passed: c.passed,
      ...(c.result !== undefined ? { result: c.result } : {}),
      ...(c.note !== undefined ? { note: c.note } : {}),
    })),
  };
}

/** Where a side-by-side migration writes (its store's secret redacted). */
function targetView(m: Migration | undefined): SideBySideView['target'] {
  return {
    collection: m?.target?.collection ?? '?',
    ...(m?.target?.store !== undefined ? { store: redactUrl(m.target.store) } : {}),
  };
}
