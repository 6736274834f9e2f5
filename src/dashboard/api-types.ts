/**
 * The dashboard's HTTP API as types: what `GET /api/snapshot` returns, what `GET /api/events`
 * streams, what the control endpoints take and answer. The page (web/) imports these types and
 * nothing else from src/, so this module has no imports and no runtime code.
 *
 * Rules the server keeps for every value described here:
 * - every string went through secret redaction (store-url.ts `redactSecrets`) on its way out;
 * - numbers are plain JSON numbers; times are ISO 8601 strings or epoch milliseconds as named.
 */

/** One point of a progress series: epoch seconds, documents per second, documents done. */
export type SeriesPoint = [t: number, rate: number, done: number];

/** `event: history` of the stream: the progress series the server kept, per migration id. */
export interface HistoryEvent {
  series: Record<string, SeriesPoint[]>;
}

export interface AuditEntryView {
  seq: number;
  at: string;
  actor: string;
  command: string;
  migration?: string;
  reason?: string;
  params?: Record<string, unknown>;
  outcome: string;
}

/** A job run under injected faults: which job, the spec as given, its seed, who, when. */
export interface ChaosView {
  job: string;
  spec: string;
  seed: number;
  actor: string;
  at: string;
}

export interface AuditChainView {
  /** null until the first check ran */
  ok: boolean | null;
  entries: number;
  checkedAt: string | null;
  firstBad?: { seq: number; key: string; problem: string };
}

export interface ProgressView {
  done: number;
  total: number;
  rate: number;
  etaSeconds: number | null;
  elapsedSeconds?: number;
  scanned?: number;
  migrated?: number;
  skipped?: number;
  conflicts?: number;
  errors?: number;
  partitions?: number;
  partitionsDone?: number;
  deadLetters?: number;
  workers?: number;
  paused?: boolean;
  /** with change windows: whether one is open, and until when (closed: when the next opens) */
  window?: { open: boolean; until?: string };
  /** a verify's two sides apart (the runner's done/total is their sum: items, not documents) */
  sides?: { documents: { done: number; total: number }; journal: { done: number; total: number } };
  updatedAt?: string;
  /** seconds since the last published progress (a backfill that stopped reporting) */
  ageSeconds: number | null;
  /** the throughput settings a running worker reported, when it publishes them */
  throttle?: Record<string, unknown>;
}

export interface ControlView {
  paused: boolean;
  reason?: string;
  by?: string;
  /** documents per second per worker, set by `throttle` or the dashboard */
  rate?: number;
  batchSize?: number;
}

export interface PartitionView {
  id: string;
  index: number;
  /** a verify's side: `data` (documents), `journal`, `source` or `target` */
  side?: string;
  scanned: number;
  /** documents in the partition's range (counted once), or an even share of the total */
  estimate: number;
  /** whether `estimate` was counted (true) or is an even share (false) */
  counted: boolean;
  done: boolean;
  migrated: number;
  skipped: number;
  conflicts: number;
  errors: number;
  owner: string | null;
  /** the lease's fencing token */
  token: number;
  /** ms until the lease expires (negative: expired), null when unowned */
  leaseMs: number | null;
}

export interface WorkerView {
  owner: string;
  host: string | null;
  pid: number | null;
  /** partition indexes it holds */
  partitions: number[];
  /** ms until its soonest lease expires; negative when every lease it had expired */
  leaseMs: number | null;
  /** it holds a lease that has not expired, or its heartbeat is fresh */
  live: boolean;
  /** from its heartbeat: its throttle (configured and effective rate, adaptive factor, ...) */
  throttle?: {
    rate: number;
    effectiveRate: number;
    factor: number;
    batchSize: number;
    concurrency: number;
  } | null;
  /** from its heartbeat: mean batch latency, ms */
  batchLatencyMs?: number | null;
  /** ms since its last heartbeat */
  heartbeatAgeMs?: number;
}

export interface DeadLetterView {
  key: string;
  error: string;
  version: number;
  attempts: number;
  at: number;
}

export interface VerifyView {
  /** the last verify (from the catalog) */
  last?: {
    at: string;
    mode: string;
    ok: boolean;
    compared: number;
    mismatched: number;
    missing: number;
    oldVersion: number;
    invariantFailures: number;
    schemaFailures: number;
  };
  /** mismatches per field path, from the last verify's audit entry */
  paths: { path: string; count: number }[];
  /** a full verify's partitions (running, or the last one's) */
  partitions: PartitionView[];
  running: boolean;
  /** what the verify's workers published: done/total, rate, ETA (over every worker) */
  progress?: ProgressView;
  samples: {
    mismatched: { key: string; diffs: { path: string; expected?: unknown; actual?: unknown }[] }[];
    missing: string[];
    oldVersion: { key: string; version: number }[];
    checks: { key: string; failures: string[] }[];
  };
}

export interface SideWindowView {
  reads: number;
  writes: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface RuntimeWindowView {
  windowMs: number;
  instances: number;
  old: SideWindowView;
  new: SideWindowView;
  compared: number;
  mismatched: number;
  candidateErrors: number;
  /** shadow reads not compared: the document was written after it was read */
  discarded: number;
  /** keys read in live that the old side answered (the new side had none or failed) */
  fallbacks: number;
  mismatchRate: number | null;
  errorRate: number | null;
  latencyRatio: number | null;
  paths: { path: string; count: number }[];
  repairsPending?: number;
}

export interface GateView {
  at: string;
  passed: boolean;
  /** pass | fail | pending (too few samples yet) */
  result?: string;
  windowMs: number;
  stage?: string;
  percent?: number;
  checks: {
    name: string;
    value: number | null;
    limit: string;
    passed: boolean;
    result?: string;
    note?: string;
  }[];
}

export interface SideBySideView {
  stage: string;
  percent: number;
  changedAt?: string;
  by?: string;
  target: { collection: string; store?: string };
  /** a split (`targets`): every target, the first one being `target` */
  targets?: { collection: string; store?: string }[];
  /** the next stage forward and whether it takes a percent; null at complete */
  next: { stage: string; needsPercent: boolean; blocked?: string } | null;
  /** where a rollback (one step back) goes, or why there is none */
  back: { stage: string; percent?: number } | { refused: string };
  /** null when no runtime counters are available (see `notes`) */
  runtime: RuntimeWindowView | null;
  gate: GateView | null;
  repairQueue: number;
  /** why a part is missing (counters not built, a read failed) */
  notes: string[];
}

export interface JobView {
  id: string;
  kind: 'rollback';
  migration: string;
  state: 'running' | 'done' | 'failed' | 'aborted';
  actor: string;
  reason: string;
  startedAt: string;
  finishedAt?: string;
  progress?: {
    done: number;
    total: number;
    rate: number;
    etaSeconds: number | null;
    restored: number;
    downcast: number;
    untouched: number;
    conflicts: number;
  };
  /** the rollback's summary when done */
  result?: Record<string, unknown>;
  error?: string;
}

/** The approvals an action needs (the config's `approvals`) and who gave them. */
export interface ApprovalView {
  action: 'backfill' | 'cutover';
  required: number;
  /** distinct actors who approved the migration's file as it is now */
  approvers: string[];
  /** approvals of earlier versions of the file, which do not count */
  stale: number;
  ok: boolean;
}

export interface MigrationView {
  id: string;
  collection: string;
  kind: 'in-place' | 'side-by-side';
  from: number;
  to: number;
  status: string;
  file?: string;
  /** the file on disk changed since the migration started */
  fileChanged: boolean;
  /** in the catalog, but its file is gone (controls that need the file are refused) */
  fileMissing: boolean;
  createdAt?: string;
  updatedAt?: string;
  startedAt?: string;
  /** the newest audit entry of this migration: who did what last */
  lastAction?: AuditEntryView;
  control?: ControlView;
  /** the settings the newest backfill worker started with (from its audit entry) */
  startedWith?: Record<string, unknown>;
  /** the newest job run under injected faults (`--chaos`, from its audit entry) */
  chaos?: ChaosView;
  progress?: ProgressView;
  partitions: PartitionView[];
  workers: WorkerView[];
  deadLetters?: { count: number; samples: DeadLetterView[] };
  verify?: VerifyView;
  /** while a rollback runs in another process: journal entries left to settle */
  rollback?: {
    journalLeft: number | null;
    /** what a running rollback's workers published: done/total, rate, ETA, counts */
    progress?: ProgressView;
    last?: Record<string, unknown>;
  };
  sideBySide?: SideBySideView;
  /** per action the config requires approvals for: whether the file as it is now has them */
  approvals?: ApprovalView[];
  /** the newest audit entries of this migration, newest first */
  audit: AuditEntryView[];
}

export interface DashboardSnapshot {
  generatedAt: string;
  project: {
    store: string;
    stateStore: string;
    migrationsDir: string;
    /** who the dashboard's controls act as, in the audit log */
    actor: string;
    intervalMs: number;
  };
  migrations: MigrationView[];
  audit: { chain: AuditChainView; recent: AuditEntryView[] };
  jobs: JobView[];
  /** parts of the state that could not be read this time, with why */
  errors: string[];
}

/** What every control endpoint answers (2xx and 4xx alike). */
export interface ControlResponse {
  ok: boolean;
  message: string;
  /** the HTTP status as a number, repeated for convenience */
  status: number;
  job?: JobView;
}

export type ControlAction = 'pause' | 'resume' | 'throttle' | 'stage' | 'rollback';

export interface ControlRequest {
  reason: string;
  /** throttle: documents per second per worker */
  rate?: number;
  /** throttle: documents per batch */
  batchSize?: number;
  /** stage: the stage to move to */
  stage?: string;
  /** stage: the live percent */
  percent?: number;
  /**
   * stage / rollback: the side-by-side state the operator saw (from the snapshot); the change is
   * refused (409) when the migration moved meanwhile
   */
  expect?: { stage: string; percent: number; changedAt?: string };
}
